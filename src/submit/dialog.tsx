import { Dialog } from '@jupyterlab/apputils';
import { ContentsManager, ServerConnection } from '@jupyterlab/services';
import { ReactWidget } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import * as React from 'react';

import {
  IBackend,
  IBackends,
  IJob,
  IJobCheck,
  IJobRequest,
  IResources
} from '../api';
import { initialResources } from '../resources';
import { IJobsModel } from '../tokens';
import { IParam } from '../params';
import { ISweep, SweepAPI } from '../sweep/api';
import {
  initialSweep,
  ISweepValues,
  readSweep,
  sweepRequest
} from '../sweep/grid';
import { SweepSection } from '../sweep/sweepForm';
import {
  buildRequest,
  IBuiltRequest,
  IFormValues,
  initialValues,
  ISubmitDefaults
} from './body';
import { checkJob, FitChecker, labelSubmit } from './check';
import {
  fieldChoices,
  FitBox,
  GPU_MEMORY_FIELD,
  IGpuLookup,
  lookupKernelGpu,
  PoolGpus,
  suggestGpuMemory
} from './gpuFit';
import { BackendFields, Field, ParamsFields } from './fields';
import { contentsFiles, IInputFiles, InputsModel } from './inputs';
import { InputsNotes, InputsSection } from './inputsList';
import { FormPreview, PreviewBox } from './previewBox';
import { ResourceForm } from './resourceForm';
import { FormErrors, nameError, validateParameters } from './validate';

export type { IFormValues, ISubmitDefaults } from './body';

/**
 * The submit form: backend, environment, the backend's resources (from its
 * `resource_schema`), typed parameters, name.
 */
export class SubmitForm extends ReactWidget {
  constructor(
    readonly notebook: string,
    readonly backends: IBackends,
    params: IParam[],
    defaults: ISubmitDefaults,
    name = ''
  ) {
    super();
    this.addClass('jp-SwanML-submit');
    this.values = initialValues(backends, params, defaults, name);
    this.preview = new FormPreview({
      check: () => this.check(),
      update: () => this.update(),
      delay: () => SubmitForm.previewDelay,
      answered: (preview, error) => {
        this.serverError = error;
        if (preview) {
          this.inputs.setDetected(preview.detected_inputs);
        }
      }
    });
    this.sweep = initialSweep(params);
    this.inputs = new InputsModel(notebook);
    this.inputs.preset(defaults.inputs, defaults.suggestedInputs);
    this.inputs.changed.connect((_, { sent }) => sent && this.changed());
    this._preferred = { ...defaults.resources };
    this.resources = this.backend
      ? initialResources(this.backend.resource_schema, this._preferred)
      : {};
  }

  values: IFormValues;
  /** The Sweep section: a parameter swept makes the submission a sweep (POST sweeps). */
  sweep: ISweepValues;
  /** The notebook's variables, offered as values to collect from a sweep's points. */
  variables: string[] = [];
  /** The chosen backend's resource values, as the form holds them. */
  resources: IResources;
  /** Files sent with the job: detected by the server, edited by the user. */
  readonly inputs: InputsModel;
  errors: FormErrors = {};
  /** Resource errors found by the last check, by field. */
  resourceErrors: Record<string, string> = {};
  serverError = '';
  busy = false;

  /**
   * The Preview: its `previewer` asks the server what submitting a request would hand to
   * the engine (the dialog sets it from the jobs model); without it the form offers none.
   */
  readonly preview: FormPreview;
  /** Milliseconds after a change before an open preview is asked again. */
  static previewDelay = 400;
  /** Milliseconds after a change before the pool fit is asked again. */
  static checkDelay = 400;

  /**
   * Asks whether any machine could run the current values (`POST jobs/check`; the dialog
   * sets it); without it the form shows no fit.
   */
  set checker(check: ((request: IJobRequest) => Promise<IJobCheck>) | null) {
    this._fit?.dispose();
    this._fit = check ? new FitChecker(check, SubmitForm.checkDelay) : null;
    this._fit?.changed.connect(() => this.update());
    this._fit?.changed.connect((_, s) =>
      this.inputs.setDetected(s.answer?.detected_inputs)
    );
  }

  /** The pool fit of the current values (null: not checked). */
  get poolFit(): FitChecker | null {
    return this._fit;
  }

  /**
   * This session's GPUs and the kernel ids of the notebook's sessions (the dialog sets it);
   * a kernel's peak GPU memory makes the form suggest a GPU memory request.
   */
  gpuLookup: (() => Promise<IGpuLookup>) | null = null;
  /** GPU memory (MB) the notebook's kernel's peak suggests; null: none. */
  suggestion: number | null = null;

  /** Fill the GPU memory field with a suggestion (and ask for a GPU if none was). */
  useSuggestion(mb: number): void {
    const fields = this.backend?.resource_schema.properties ?? {};
    const gpus = Number(this.resources.gpus ?? 0);
    this.resources = {
      ...this.resources,
      [GPU_MEMORY_FIELD]: mb,
      ...('gpus' in fields && !(gpus >= 1) ? { gpus: 1 } : {})
    };
    this.update();
    this.changed();
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    this._fit?.schedule(this.build().request);
    if (this.gpuLookup && this.suggestion === null) {
      void suggestGpuMemory(this.gpuLookup, this.notebook).then(mb => {
        this.suggestion = mb;
        this.update();
      });
    }
  }

  /** Show or hide the preview; shown, it follows the form's values. */
  togglePreview(): Promise<void> {
    return this.preview.toggle();
  }

  /** A value changed: the fit and an open preview follow (once the typing pauses). */
  protected changed(): void {
    this._fit?.schedule(this.build().request);
    this.preview.follow();
  }

  dispose(): void {
    this.preview.dispose();
    this._fit?.dispose();
    super.dispose();
  }

  /** The chosen backend. */
  get backend(): IBackend | undefined {
    return this.backends.backends.find(b => b.name === this.values.backend);
  }

  /** Choose another backend: its own resource fields, keeping values both have. */
  setBackend(name: string): void {
    this._preferred = { ...this._preferred, ...this.resources };
    this.values.backend = name;
    const backend = this.backend;
    this.resources = backend
      ? initialResources(backend.resource_schema, this._preferred)
      : {};
    this.resourceErrors = {};
    delete this.errors.backend;
    this.update();
    this.changed();
  }

  /** Check every value; show what is wrong. The request when all is well. */
  check(): IJobRequest | null {
    const { request, errors, resourceErrors } = this.build();
    this.errors = errors;
    this.resourceErrors = resourceErrors;
    this.update();
    return request;
  }

  /** The request of the current values (null when one is wrong), and what is wrong. */
  protected build(): IBuiltRequest {
    return buildRequest(
      this.notebook,
      this.backend,
      this.values,
      this.resources,
      () => this.inputs.request()
    );
  }

  private set(key: 'environment' | 'name', value: string): void {
    this.values[key] = value;
    if (key === 'name' && this.errors.name) {
      this.errors.name = nameError(value) || undefined;
    }
    this.update();
    this.changed();
  }

  private setParam(index: number, text: string): void {
    const params = this.values.params;
    params[index] = { ...params[index], text };
    const key = `param-${index}`;
    if (this.errors[key]) {
      this.errors[key] = validateParameters(params).errors[key];
    }
    this.update();
    this.changed();
  }

  render(): JSX.Element {
    const v = this.values;
    const e = this.errors;
    const backend = this.backend;
    return (
      <form
        className="jp-SwanML-form"
        aria-label="Run on batch"
        onSubmit={ev => ev.preventDefault()}
      >
        <p className="jp-SwanML-notebook">
          Notebook: <code>{this.notebook}</code>
        </p>
        <InputsNotes model={this.inputs} />
        <BackendFields
          backends={this.backends}
          backend={v.backend}
          environment={v.environment}
          error={e.backend}
          onBackend={name => this.setBackend(name)}
          onEnvironment={name => this.set('environment', name)}
        />
        {backend && (
          <div className="jp-SwanML-resources">
            <ResourceForm
              key={backend.name}
              schema={backend.resource_schema}
              values={this.resources}
              choices={fieldChoices(backend)}
              onChange={values => {
                const suggested = this.resources[GPU_MEMORY_FIELD];
                this.resources = values;
                if (
                  this.suggestion !== null &&
                  values[GPU_MEMORY_FIELD] !== suggested
                ) {
                  this.update(); // the suggestion shows while it differs
                }
                this.changed();
              }}
            />
            <PoolGpus
              backend={backend}
              suggestion={this.suggestion}
              current={this.resources[GPU_MEMORY_FIELD]}
              onSuggest={mb => this.useSuggestion(mb)}
            />
          </div>
        )}
        <ParamsFields
          params={v.params}
          errors={e}
          onChange={(i, text) => this.setParam(i, text)}
        />
        <SweepSection
          values={this.sweep}
          variables={this.variables}
          onChange={sweep => {
            this.sweep = sweep;
            this.update();
          }}
        />
        <Field
          id="swan-name"
          label="Job name"
          value={v.name}
          error={e.name}
          placeholder={this.notebook
            .split('/')
            .pop()
            ?.replace(/\.ipynb$/, '')}
          onChange={x => this.set('name', x)}
        />
        <InputsSection
          model={this.inputs}
          backend={backend?.capabilities.inputs === false ? backend : null}
        />
        {this.preview.previewer && (
          <PreviewBox state={this.preview} backend={backend} />
        )}
        {this.serverError && (
          <p className="jp-SwanML-error" role="alert">
            {this.serverError}
          </p>
        )}
        {this._fit && <FitBox state={this._fit.state} />}
      </form>
    );
  }

  private _preferred: IResources;
  private _fit: FitChecker | null = null;
}

/**
 * A dialog that stays open until the job is accepted by the server: invalid values and
 * 4xx answers are shown inline, and nothing is submitted twice.
 */
export class SubmitDialog extends Dialog<IJob | null> {
  constructor(
    readonly form: SubmitForm,
    readonly model: IJobsModel,
    options: SubmitDialog.IOptions = {}
  ) {
    super({
      title: 'Run on batch',
      body: form,
      buttons: [
        Dialog.cancelButton(),
        Dialog.okButton({ label: 'Submit', ariaLabel: 'Submit job' })
      ],
      defaultButton: 1,
      focusNodeSelector: 'select, input'
    });
    this.addClass('jp-SwanML-dialog');
    const preview = model.preview?.bind(model);
    if (preview) {
      form.preview.previewer = request => preview(request);
    }
    const settings = options.serverSettings ?? model.serverSettings;
    form.checker =
      options.check === undefined
        ? request => checkJob(request, settings)
        : options.check;
    form.gpuLookup =
      options.gpu === undefined
        ? () => lookupKernelGpu(form.notebook, settings)
        : options.gpu;
    form.inputs.files =
      options.files === undefined
        ? contentsFiles(new ContentsManager({ serverSettings: settings }))
        : options.files;
    form.poolFit?.changed.connect(() =>
      labelSubmit(this.node, !!form.poolFit?.infeasible)
    );
    this._sweeps = new SweepAPI(settings);
  }

  resolve(index?: number): void {
    const accept = index === undefined || index === 1;
    if (!accept) {
      super.resolve(index);
      return;
    }
    if (this.form.busy) {
      return;
    }
    const request = this.form.check();
    const sweep = readSweep(this.form.sweep);
    if (!request || Object.keys(sweep.errors).length) {
      return;
    }
    // A swept parameter makes it a sweep: one job per point, one submission.
    const sweepBody = sweepRequest(request, sweep);
    this.form.busy = true;
    this.form.serverError = '';
    (sweepBody
      ? this._sweeps.submit(sweepBody).then(s => {
          this.sweep = s;
        })
      : this.model.submit(request).then(job => {
          this.job = job;
        })
    )
      .then(() => super.resolve(index))
      .catch(reason => {
        this.form.serverError = reason?.message ?? String(reason);
        this.form.update();
      })
      .finally(() => {
        this.form.busy = false;
      });
  }

  job: IJob | null = null;
  /** The sweep submitted (instead of a job) when a parameter was swept. */
  sweep: ISweep | null = null;
  private _sweeps: SweepAPI;
}

export namespace SubmitDialog {
  export interface IOptions {
    /** Where the server is (default: the jobs model's). */
    serverSettings?: ServerConnection.ISettings;
    /** Checks the pool fit as the user edits (default `POST jobs/check`; null: no check). */
    check?: ((request: IJobRequest) => Promise<IJobCheck>) | null;
    /** Finds the kernel's peak GPU memory (default `GET gpu`; null: no suggestion). */
    gpu?: (() => Promise<IGpuLookup>) | null;
    /** Sizes and listings for the inputs (default: the contents API; null: none). */
    files?: IInputFiles | null;
  }
}

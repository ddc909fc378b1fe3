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
  IJobPreview,
  IJobRequest,
  IResources
} from '../api';
import { JobsModel } from '../model';
import {
  initialResources,
  requestResources,
  validateResources
} from '../resources';
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
import { contentsFiles, IInputFiles, InputsModel } from './inputs';
import { InputsNotes, InputsSection } from './inputsList';
import { ResourceForm } from './resourceForm';
import { FormErrors, nameError, validateParameters } from './validate';

export interface ISubmitDefaults {
  backend?: string;
  environment?: string;
  /**
   * Preferred resource values by field name (settings, or the job being resubmitted);
   * a field the chosen backend does not have is ignored.
   */
  resources?: IResources;
  /** Inputs to send (a resubmitted job's), and ones a failed job lacked (noted as such). */
  inputs?: string[];
  suggestedInputs?: string[];
}

/** What the submit form edits besides the resources (parameters as typed text). */
export interface IFormValues {
  backend: string;
  environment: string;
  name: string;
  params: IParam[];
}

interface IFieldProps {
  id: string;
  label: string;
  value: string;
  error?: string;
  onChange: (v: string) => void;
  placeholder?: string;
}

function Field(props: IFieldProps): JSX.Element {
  const errId = `${props.id}-error`;
  return (
    <div className="jp-SwanML-field">
      <label htmlFor={props.id}>{props.label}</label>
      <input
        id={props.id}
        className="jp-mod-styled"
        value={props.value}
        placeholder={props.placeholder}
        aria-invalid={!!props.error}
        aria-describedby={props.error ? errId : undefined}
        onChange={e => props.onChange(e.target.value)}
      />
      {props.error && (
        <span id={errId} className="jp-SwanML-error" role="alert">
          {props.error}
        </span>
      )}
    </div>
  );
}

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
    const available = backends.backends.filter(b => b.available);
    const preferred = defaults.backend ?? backends.default_backend;
    const environments = backends.environments;
    const environment =
      defaults.environment ?? backends.default_environment ?? '';
    this.values = {
      backend:
        available.find(b => b.name === preferred)?.name ??
        available[0]?.name ??
        '',
      environment:
        environments.find(e => e.name === environment)?.name ??
        environments[0]?.name ??
        '',
      name,
      params: params.map(p => ({ ...p }))
    };
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
   * Asks the server what submitting a request would hand to the engine (the dialog sets it
   * from the jobs model); without it the form offers no preview.
   */
  previewer: ((request: IJobRequest) => Promise<IJobPreview>) | null = null;
  /** Whether the preview is shown. */
  previewOpen = false;
  /** The preview of the current values (null while none could be made). */
  preview: IJobPreview | null = null;
  previewBusy = false;
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
    this.previewOpen = !this.previewOpen;
    window.clearTimeout(this._previewTimer);
    if (!this.previewOpen) {
      this._previewSeq++; // an answer on its way is not shown any more
      this.previewBusy = false;
      this.update();
      return Promise.resolve();
    }
    this._revealPreview = true;
    return this.refreshPreview();
  }

  /**
   * Ask the server for the preview of the current values (checked here first, like a
   * submission); its refusal is shown where a refused submission's is.
   */
  async refreshPreview(): Promise<void> {
    const previewer = this.previewer;
    const request = this.check();
    const seq = ++this._previewSeq;
    if (!previewer || !request) {
      this.preview = null;
      this.previewBusy = false;
      this.update();
      return;
    }
    this.previewBusy = true;
    this.update();
    try {
      const preview = await previewer(request);
      if (seq === this._previewSeq) {
        this.preview = preview;
        this.serverError = '';
        this.inputs.setDetected(preview.detected_inputs);
      }
    } catch (reason: any) {
      if (seq === this._previewSeq) {
        this.preview = null;
        this.serverError = reason?.message ?? String(reason);
      }
    } finally {
      if (seq === this._previewSeq) {
        this.previewBusy = false;
        this.update();
      }
    }
  }

  /**
   * Scroll the dialog to the preview the first time it has text after being opened (not
   * when it follows an edit: the field being edited stays in view).
   */
  protected revealPreview(el: HTMLElement | null): void {
    if (el && this._revealPreview && this.preview) {
      this._revealPreview = false;
      el.scrollIntoView?.({ block: 'nearest' });
    }
  }

  /** A value changed: the fit and an open preview follow (once the typing pauses). */
  protected changed(): void {
    this._fit?.schedule(this.build().request);
    if (!this.previewOpen) {
      return;
    }
    window.clearTimeout(this._previewTimer);
    this._previewTimer = window.setTimeout(
      () => void this.refreshPreview(),
      SubmitForm.previewDelay
    );
  }

  dispose(): void {
    window.clearTimeout(this._previewTimer);
    this._previewSeq++;
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
  protected build(): {
    request: IJobRequest | null;
    errors: FormErrors;
    resourceErrors: Record<string, string>;
  } {
    const backend = this.backend;
    const { errors, parameters } = validateParameters(this.values.params);
    const name = nameError(this.values.name);
    if (name) {
      errors.name = name;
    }
    if (!backend) {
      errors.backend = 'no backend is available';
    }
    const resourceErrors = backend
      ? validateResources(backend.resource_schema, this.resources)
      : {};
    const request =
      !backend ||
      Object.keys(errors).length ||
      Object.keys(resourceErrors).length
        ? null
        : {
            notebook: this.notebook,
            backend: backend.name,
            environment: this.values.environment,
            name: this.values.name.trim() || undefined,
            parameters,
            resources: requestResources(this.resources),
            // a backend that sends no files (capabilities.inputs false) gets none
            inputs:
              backend.capabilities.inputs === false
                ? undefined
                : this.inputs.request()
          };
    return { request, errors, resourceErrors };
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
        <div className="jp-SwanML-row">
          <div className="jp-SwanML-field">
            <label htmlFor="swan-backend">Backend</label>
            <select
              id="swan-backend"
              className="jp-mod-styled"
              value={v.backend}
              onChange={ev => this.setBackend(ev.target.value)}
            >
              {this.backends.backends.map(b => (
                <option
                  key={b.name}
                  value={b.name}
                  disabled={!b.available}
                  title={b.reason}
                >
                  {b.title || b.name}
                  {b.available ? '' : ` — unavailable: ${b.reason ?? ''}`}
                </option>
              ))}
            </select>
            {e.backend && (
              <span className="jp-SwanML-error" role="alert">
                {e.backend}
              </span>
            )}
          </div>
          <div className="jp-SwanML-field">
            <label htmlFor="swan-environment">Environment</label>
            <select
              id="swan-environment"
              className="jp-mod-styled"
              value={v.environment}
              onChange={ev => this.set('environment', ev.target.value)}
            >
              {this.backends.environments.map(env => (
                <option key={env.name} value={env.name} title={env.description}>
                  {env.name}
                </option>
              ))}
            </select>
          </div>
        </div>
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
        <fieldset className="jp-SwanML-params">
          <legend>Parameters</legend>
          {v.params.length === 0 && (
            <p className="jp-SwanML-hint">
              No cell tagged <code>parameters</code> in this notebook.
            </p>
          )}
          {v.params.map((p, i) => (
            <Field
              key={p.name}
              id={`swan-param-${p.name}`}
              label={`${p.name} (${p.type})`}
              value={p.text}
              error={e[`param-${i}`]}
              onChange={x => this.setParam(i, x)}
            />
          ))}
        </fieldset>
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
        {this.previewer && this.renderPreview(backend)}
        {this.serverError && (
          <p className="jp-SwanML-error" role="alert">
            {this.serverError}
          </p>
        )}
        {this._fit && <FitBox state={this._fit.state} />}
      </form>
    );
  }

  /** The Preview disclosure: what would be handed to the engine, monospace, scrollable. */
  protected renderPreview(backend: IBackend | undefined): JSX.Element {
    const open = this.previewOpen;
    const preview = this.preview;
    return (
      <div className="jp-SwanML-previewBox">
        <button
          type="button"
          className="jp-mod-styled jp-SwanML-previewToggle"
          aria-expanded={open}
          aria-controls="swan-preview"
          title="What submitting would hand to the engine; nothing is submitted"
          onClick={() => void this.togglePreview()}
        >
          <span aria-hidden="true">{open ? '▾ ' : '▸ '}</span>
          Preview
        </button>
        {open && preview && (
          <span className="jp-SwanML-hint">
            {` ${preview.format}: what ${backend?.title || preview.backend} would get` +
              (preview.existing_job
                ? ` (submitting returns job ${preview.existing_job} instead)`
                : '')}
          </span>
        )}
        {open && (preview || this.previewBusy) && (
          <pre
            id="swan-preview"
            ref={el => this.revealPreview(el)}
            className="jp-SwanML-preview"
            aria-label="Preview"
            aria-busy={this.previewBusy}
            tabIndex={0}
          >
            {preview?.text ?? 'Loading the preview…'}
          </pre>
        )}
        {open && !preview && !this.previewBusy && (
          <span id="swan-preview" className="jp-SwanML-hint">
            No preview for these values: see what is wrong.
          </span>
        )}
      </div>
    );
  }

  private _preferred: IResources;
  private _fit: FitChecker | null = null;
  private _previewSeq = 0;
  private _revealPreview = false;
  private _previewTimer = 0;
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
      form.previewer = request => preview(request);
    }
    const settings =
      options.serverSettings ??
      (model instanceof JobsModel
        ? model.serverSettings
        : ServerConnection.makeSettings());
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
    /** Where the server is (default: the jobs model's, else the page's). */
    serverSettings?: ServerConnection.ISettings;
    /** Checks the pool fit as the user edits (default `POST jobs/check`; null: no check). */
    check?: ((request: IJobRequest) => Promise<IJobCheck>) | null;
    /** Finds the kernel's peak GPU memory (default `GET gpu`; null: no suggestion). */
    gpu?: (() => Promise<IGpuLookup>) | null;
    /** Sizes and listings for the inputs (default: the contents API; null: none). */
    files?: IInputFiles | null;
  }
}

import { Dialog } from '@jupyterlab/apputils';
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { IBackend, IBackends, IJob, IJobRequest, IResources } from '../api';
import {
  initialResources,
  requestResources,
  validateResources
} from '../resources';
import { IJobsModel } from '../tokens';
import { IParam } from '../params';
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

/** "1 of 2 GPUs free (A100)", when the backend says what is free. */
function gpuHint(backend: IBackend | undefined): string {
  const res: any = backend?.resources ?? {};
  if (res.gpus_total === undefined) {
    return '';
  }
  const types = (res.gpu_types ?? []).map((t: any) => t.name).filter(Boolean);
  return (
    `${res.gpus_free} of ${res.gpus_total} GPUs free` +
    (types.length ? ` (${types.join(', ')})` : '')
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
    this._preferred = { ...defaults.resources };
    this.resources = this.backend
      ? initialResources(this.backend.resource_schema, this._preferred)
      : {};
  }

  values: IFormValues;
  /** The chosen backend's resource values, as the form holds them. */
  resources: IResources;
  errors: FormErrors = {};
  /** Resource errors found by the last check, by field. */
  resourceErrors: Record<string, string> = {};
  serverError = '';
  busy = false;

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
  }

  /** Check every value; show what is wrong. The request when all is well. */
  check(): IJobRequest | null {
    const backend = this.backend;
    const { errors, parameters } = validateParameters(this.values.params);
    const name = nameError(this.values.name);
    if (name) {
      errors.name = name;
    }
    if (!backend) {
      errors.backend = 'no backend is available';
    }
    this.errors = errors;
    this.resourceErrors = backend
      ? validateResources(backend.resource_schema, this.resources)
      : {};
    this.update();
    if (
      !backend ||
      Object.keys(errors).length ||
      Object.keys(this.resourceErrors).length
    ) {
      return null;
    }
    return {
      notebook: this.notebook,
      backend: backend.name,
      environment: this.values.environment,
      name: this.values.name.trim() || undefined,
      parameters,
      resources: requestResources(this.resources)
    };
  }

  private set(key: 'environment' | 'name', value: string): void {
    this.values[key] = value;
    if (key === 'name' && this.errors.name) {
      this.errors.name = nameError(value) || undefined;
    }
    this.update();
  }

  private setParam(index: number, text: string): void {
    const params = this.values.params;
    params[index] = { ...params[index], text };
    const key = `param-${index}`;
    if (this.errors[key]) {
      this.errors[key] = validateParameters(params).errors[key];
    }
    this.update();
  }

  render(): JSX.Element {
    const v = this.values;
    const e = this.errors;
    const backend = this.backend;
    const hint = gpuHint(backend);
    return (
      <form
        className="jp-SwanML-form"
        aria-label="Run on batch"
        onSubmit={ev => ev.preventDefault()}
      >
        <p className="jp-SwanML-notebook">
          Notebook: <code>{this.notebook}</code>
        </p>
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
              onChange={values => {
                this.resources = values;
              }}
            />
            {hint && <span className="jp-SwanML-hint">{hint}</span>}
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
        {this.serverError && (
          <p className="jp-SwanML-error" role="alert">
            {this.serverError}
          </p>
        )}
      </form>
    );
  }

  private _preferred: IResources;
}

/**
 * A dialog that stays open until the job is accepted by the server: invalid values and
 * 4xx answers are shown inline, and nothing is submitted twice.
 */
export class SubmitDialog extends Dialog<IJob | null> {
  constructor(
    readonly form: SubmitForm,
    readonly model: IJobsModel
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
    if (!request) {
      return;
    }
    this.form.busy = true;
    this.form.serverError = '';
    this.model
      .submit(request)
      .then(job => {
        this.job = job;
        super.resolve(index);
      })
      .catch(reason => {
        this.form.serverError = reason?.message ?? String(reason);
        this.form.update();
      })
      .finally(() => {
        this.form.busy = false;
      });
  }

  job: IJob | null = null;
}

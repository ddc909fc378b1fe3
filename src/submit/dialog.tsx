import { Dialog } from '@jupyterlab/apputils';
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { IBackends, IJob, IJobRequest } from '../api';
import { JobsModel } from '../model';
import { IParam } from '../params';
import { FormErrors, IFormValues, validate } from './validate';

export interface ISubmitDefaults {
  backend?: string;
  environment?: string;
  cpus?: number;
  memory_mb?: number;
  gpus?: number;
}

interface IFieldProps {
  id: string;
  label: string;
  value: string;
  error?: string;
  hint?: string;
  onChange: (v: string) => void;
  inputMode?: 'numeric' | 'decimal' | 'text';
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
        inputMode={props.inputMode ?? 'numeric'}
        placeholder={props.placeholder}
        aria-invalid={!!props.error}
        aria-describedby={props.error ? errId : undefined}
        onChange={e => props.onChange(e.target.value)}
      />
      {props.hint && !props.error && (
        <span className="jp-SwanML-hint">{props.hint}</span>
      )}
      {props.error && (
        <span id={errId} className="jp-SwanML-error" role="alert">
          {props.error}
        </span>
      )}
    </div>
  );
}

/** The submit form: backend, resources, environment, typed parameters, name. */
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
    this.values = {
      backend:
        available.find(b => b.name === preferred)?.name ??
        available[0]?.name ??
        '',
      environment:
        backends.environments.find(e => e.name === defaults.environment)
          ?.name ??
        backends.environments[0]?.name ??
        '',
      name,
      cpus: String(defaults.cpus ?? 1),
      memory_mb: String(defaults.memory_mb ?? 2048),
      gpus: String(defaults.gpus ?? 0),
      gpu_memory_mb: '',
      gpu_capability: '',
      max_runtime_s: '',
      params: params.map(p => ({ ...p }))
    };
  }

  values: IFormValues;
  errors: FormErrors = {};
  serverError = '';
  busy = false;

  /** Check the values; show what is wrong. The request when all is well. */
  check(): IJobRequest | null {
    const { errors, request } = validate(this.values, this.backends.limits);
    this.errors = errors;
    if (!this.values.backend) {
      this.errors.backend = 'no backend is available';
    }
    this.update();
    if (!request || this.errors.backend) {
      return null;
    }
    return { notebook: this.notebook, ...request };
  }

  private set(key: keyof IFormValues, value: string): void {
    (this.values as any)[key] = value;
    if (this.errors[key]) {
      const { errors } = validate(this.values, this.backends.limits);
      this.errors = errors;
    }
    this.update();
  }

  render(): JSX.Element {
    const v = this.values;
    const e = this.errors;
    const backend = this.backends.backends.find(b => b.name === v.backend);
    const res: any = backend?.resources ?? {};
    const gpuHint =
      res.gpus_total !== undefined
        ? `${res.gpus_free} of ${res.gpus_total} GPUs free` +
          (res.gpu_types?.length
            ? ` (${res.gpu_types.map((t: any) => t.name).join(', ')})`
            : '')
        : undefined;
    const offersGpuConstraints = !!backend?.capabilities?.gpu_constraints;
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
              onChange={ev => this.set('backend', ev.target.value)}
            >
              {this.backends.backends.map(b => (
                <option
                  key={b.name}
                  value={b.name}
                  disabled={!b.available}
                  title={b.reason}
                >
                  {b.name}
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
        <div className="jp-SwanML-row">
          <Field
            id="swan-cpus"
            label="CPUs"
            value={v.cpus}
            error={e.cpus}
            onChange={x => this.set('cpus', x)}
          />
          <Field
            id="swan-memory"
            label="Memory (MB)"
            value={v.memory_mb}
            error={e.memory_mb}
            onChange={x => this.set('memory_mb', x)}
          />
          <Field
            id="swan-gpus"
            label="GPUs"
            value={v.gpus}
            error={e.gpus}
            hint={gpuHint}
            onChange={x => this.set('gpus', x)}
          />
        </div>
        {offersGpuConstraints && (
          <div className="jp-SwanML-row">
            <Field
              id="swan-gpu-memory"
              label="Min. GPU memory (MB)"
              value={v.gpu_memory_mb}
              error={e.gpu_memory_mb}
              placeholder="any"
              onChange={x => this.set('gpu_memory_mb', x)}
            />
            <Field
              id="swan-gpu-capability"
              label="Min. GPU capability"
              value={v.gpu_capability}
              error={e.gpu_capability}
              inputMode="decimal"
              placeholder="any"
              onChange={x => this.set('gpu_capability', x)}
            />
            <Field
              id="swan-runtime"
              label="Max. runtime (s)"
              value={v.max_runtime_s}
              error={e.max_runtime_s}
              placeholder="none"
              onChange={x => this.set('max_runtime_s', x)}
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
              inputMode="text"
              onChange={x => {
                v.params[i] = { ...p, text: x };
                this.set('params', v.params as any);
              }}
            />
          ))}
        </fieldset>
        <Field
          id="swan-name"
          label="Job name"
          value={v.name}
          error={e.name}
          inputMode="text"
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
}

/**
 * A dialog that stays open until the job is accepted by the server: invalid values and
 * 4xx answers are shown inline, and nothing is submitted twice.
 */
export class SubmitDialog extends Dialog<IJob | null> {
  constructor(
    readonly form: SubmitForm,
    readonly model: JobsModel
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

/**
 * The submit form's plain fields (no state of their own): a labelled text field with its
 * error, the backend and environment selects, the notebook's parameters.
 */
import * as React from 'react';

import { IBackends } from '../api';
import { IParam } from '../params';
import { FormErrors } from './validate';

export interface IFieldProps {
  id: string;
  label: string;
  value: string;
  error?: string;
  onChange: (v: string) => void;
  placeholder?: string;
}

/** A text field with its label and, when wrong, why (announced). */
export function Field(props: IFieldProps): JSX.Element {
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

/** A select with its label and, when wrong, why (announced); `children`: its options. */
function SelectField(props: {
  id: string;
  label: string;
  value: string;
  error?: string;
  onChange: (v: string) => void;
  children: React.ReactNode;
}): JSX.Element {
  return (
    <div className="jp-SwanML-field">
      <label htmlFor={props.id}>{props.label}</label>
      <select
        id={props.id}
        className="jp-mod-styled"
        value={props.value}
        onChange={ev => props.onChange(ev.target.value)}
      >
        {props.children}
      </select>
      {props.error && (
        <span className="jp-SwanML-error" role="alert">
          {props.error}
        </span>
      )}
    </div>
  );
}

/** Backend (an unavailable one shown with why, not selectable) and environment. */
export function BackendFields(props: {
  backends: IBackends;
  backend: string;
  environment: string;
  error?: string;
  onBackend: (name: string) => void;
  onEnvironment: (name: string) => void;
}): JSX.Element {
  return (
    <div className="jp-SwanML-row">
      <SelectField
        id="swan-backend"
        label="Backend"
        value={props.backend}
        error={props.error}
        onChange={props.onBackend}
      >
        {props.backends.backends.map(b => (
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
      </SelectField>
      <SelectField
        id="swan-environment"
        label="Environment"
        value={props.environment}
        onChange={props.onEnvironment}
      >
        {props.backends.environments.map(env => (
          <option key={env.name} value={env.name} title={env.description}>
            {env.name}
          </option>
        ))}
      </SelectField>
    </div>
  );
}

/** The notebook's parameters as typed text, each with its error (`param-<i>`). */
export function ParamsFields(props: {
  params: IParam[];
  errors: FormErrors;
  onChange: (index: number, text: string) => void;
}): JSX.Element {
  return (
    <fieldset className="jp-SwanML-params">
      <legend>Parameters</legend>
      {props.params.length === 0 && (
        <p className="jp-SwanML-hint">
          No cell tagged <code>parameters</code> in this notebook.
        </p>
      )}
      {props.params.map((p, i) => (
        <Field
          key={p.name}
          id={`swan-param-${p.name}`}
          label={`${p.name} (${p.type})`}
          value={p.text}
          error={props.errors[`param-${i}`]}
          onChange={x => props.onChange(i, x)}
        />
      ))}
    </fieldset>
  );
}

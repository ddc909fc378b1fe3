import { FormComponent } from '@jupyterlab/ui-components';
import type { ReadonlyJSONObject } from '@lumino/coreutils';
import {
  errorId,
  FieldErrorProps,
  RJSFSchema,
  UiSchema,
  WidgetProps
} from '@rjsf/utils';
import * as React from 'react';

import { IResourceSchema, IResources } from '../api';
import {
  formSchema,
  isOptional,
  resourceValidator,
  transformErrors
} from '../resources';

/** A field's errors, in words, announced, and named by the input's aria-describedby. */
function FieldErrors(props: FieldErrorProps): JSX.Element | null {
  const errors = (props.errors ?? []).filter(e => !!e);
  if (!errors.length) {
    return null;
  }
  return (
    <div id={errorId(props.idSchema)} className="jp-SwanML-error" role="alert">
      {errors.map((e, i) => (
        <div key={i}>{e}</div>
      ))}
    </div>
  );
}

/**
 * JupyterLab's form template shows a field's title as a heading, not as the input's label:
 * the input gets its title as accessible name (and says when it is invalid).
 */
function LabelledInput(props: WidgetProps): JSX.Element {
  const Input = props.registry.templates.BaseInputTemplate;
  return (
    <Input
      {...props}
      aria-label={props.label}
      aria-invalid={!!props.rawErrors?.length}
    />
  );
}

/**
 * A choice (enum) with its title as label. An optional choice (null among its values) is
 * left empty as an option of its own, "not set": rjsf would offer null as an option
 * labelled "null", and with the field unset the browser would show the first option as
 * chosen although no value is (rjsf only adds its empty option when there is no default).
 */
function LabelledSelect(props: WidgetProps): JSX.Element {
  const Select = props.registry.widgets.SelectWidget;
  const enumOptions = props.options.enumOptions ?? [];
  const optional = enumOptions.some(o => o.value === null);
  const shown: WidgetProps = optional
    ? {
        ...props,
        schema: { ...props.schema, default: undefined },
        options: {
          ...props.options,
          enumOptions: enumOptions.filter(o => o.value !== null)
        },
        placeholder: props.placeholder || 'not set'
      }
    : props;
  return (
    <>
      <label htmlFor={props.id} className="jp-SwanML-srOnly">
        {props.label}
      </label>
      <Select {...shown} />
    </>
  );
}

/**
 * A field whose options the backend publishes (`x-options-from`): a choice among them, or
 * "any" (left unset). A value not among them (a resubmitted job's) stays shown as chosen.
 */
function ChoicesSelect(props: WidgetProps): JSX.Element {
  const names = (props.options.choices ?? []) as string[];
  const value = props.value;
  const listed =
    typeof value === 'string' && value && !names.includes(value)
      ? [...names, value]
      : names;
  const enumOptions = [
    ...listed.map(n => ({
      value: n,
      label: names.includes(n) ? n : `${n} (not in the pool now)`
    })),
    { value: null, label: 'any' }
  ];
  return (
    <LabelledSelect
      {...props}
      options={{ ...props.options, enumOptions }}
      placeholder="any"
    />
  );
}

/**
 * How each field of a resource schema is shown (no field is named here); `choices`: the
 * options of fields that take them from the backend's published resources.
 */
export function resourceUiSchema(
  schema: IResourceSchema,
  choices: Record<string, string[]> = {}
): UiSchema<ReadonlyJSONObject> {
  const ui: UiSchema<ReadonlyJSONObject> = {
    'ui:FieldErrorTemplate': FieldErrors
  };
  for (const [key, field] of Object.entries(schema.properties ?? {})) {
    ui[key] = {
      'ui:FieldErrorTemplate': FieldErrors,
      'ui:BaseInputTemplate': LabelledInput,
      ...(field.enum ? { 'ui:widget': LabelledSelect } : {}),
      ...(isOptional(field) ? { 'ui:placeholder': 'not set' } : {}),
      ...(choices[key]
        ? {
            'ui:widget': ChoicesSelect,
            'ui:options': { choices: choices[key] }
          }
        : {})
    };
  }
  return ui;
}

/** The form template reads `defaultFormData` from the context. */
const FORM_CONTEXT = { defaultFormData: {} };

export interface IResourceFormProps {
  /** The chosen backend's resource schema. */
  schema: IResourceSchema;
  values: IResources;
  onChange: (values: IResources) => void;
  /** Prefix of the fields' ids (`<prefix>_<field>`). */
  idPrefix?: string;
  /** Options of fields that take them from what the backend publishes, by field. */
  choices?: Record<string, string[]>;
}

/**
 * A backend's resources, rendered from its `resource_schema` with JupyterLab's own form
 * component (the settings editor's), checked as they are typed against the same schema.
 */
export function ResourceForm(props: IResourceFormProps): JSX.Element {
  const { schema } = props;
  const display = React.useMemo<RJSFSchema>(() => formSchema(schema), [schema]);
  const choices = props.choices;
  const uiSchema = React.useMemo(
    () => resourceUiSchema(schema, choices),
    [schema, JSON.stringify(choices ?? {})]
  );
  const transform = React.useMemo(() => transformErrors(schema), [schema]);
  return (
    <FormComponent
      schema={display}
      uiSchema={uiSchema}
      formData={props.values as ReadonlyJSONObject}
      formContext={FORM_CONTEXT}
      validator={resourceValidator}
      transformErrors={transform}
      liveValidate
      noHtml5Validate
      showErrorList={false}
      tagName="div"
      idPrefix={props.idPrefix ?? 'swan-resources'}
      compact
      showModifiedFromDefault={false}
      onChange={e => props.onChange({ ...(e.formData as IResources) })}
    />
  );
}

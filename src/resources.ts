/**
 * A backend's `resource_schema` (JSON Schema draft 2020-12) is the one description of the
 * resources its jobs accept: the submit dialog renders it, checks values against it and
 * says in words what is wrong; the job view shows a job's resources with its titles.
 */
import type { ReadonlyJSONObject } from '@lumino/coreutils';
import type { RJSFSchema, RJSFValidationError } from '@rjsf/utils';
import { customizeValidator } from '@rjsf/validator-ajv8';
import Ajv2020 from 'ajv/dist/2020';

import { IResourceField, IResourceSchema, IResources } from './api';

/** Validates resources as the server does: draft 2020-12, every error at once. */
export const resourceValidator = customizeValidator<ReadonlyJSONObject>({
  AjvClass: Ajv2020 as any
});

/** A field's title as a form shows it: its unit, if any, in parentheses. */
export function fieldTitle(key: string, field: IResourceField): string {
  const title = field.title || key;
  return field['x-unit'] ? `${title} (${field['x-unit']})` : title;
}

/** The schema as the form renders it: titles with units, no `$schema` (the validator is draft 2020-12). */
export function formSchema(schema: IResourceSchema): RJSFSchema {
  const properties: Record<string, IResourceField> = {};
  for (const [key, field] of Object.entries(schema.properties ?? {})) {
    properties[key] = { ...field, title: fieldTitle(key, field) };
  }
  const shown: Record<string, unknown> = { ...schema, properties };
  delete shown.$schema;
  return shown as RJSFSchema;
}

/** Whether a field may be left empty (its type allows null). */
export function isOptional(field: IResourceField): boolean {
  return Array.isArray(field.type) && field.type.includes('null');
}

/**
 * The values a form starts with: the preferred value of each field this schema has
 * (settings, or the job being resubmitted), else the schema's default. Fields of other
 * backends are left out; so are empty (null) values.
 */
export function initialResources(
  schema: IResourceSchema,
  preferred: IResources = {}
): IResources {
  const values: IResources = {};
  for (const [key, field] of Object.entries(schema.properties ?? {})) {
    const value = preferred[key] !== undefined ? preferred[key] : field.default;
    if (value !== undefined && value !== null) {
      values[key] = value;
    }
  }
  return values;
}

/** The `resources` of a request: the values that are set. */
export function requestResources(values: IResources): IResources {
  const set: IResources = {};
  for (const [key, value] of Object.entries(values)) {
    if (value !== undefined && value !== null) {
      set[key] = value;
    }
  }
  return set;
}

function typeWords(type: unknown): string {
  const t = String(type);
  if (t.includes('integer')) {
    return 'must be a whole number';
  }
  if (t.includes('number')) {
    return 'must be a number';
  }
  if (t.includes('boolean')) {
    return 'must be true or false';
  }
  return t.includes('string') ? 'must be text' : `must be of type ${t}`;
}

/** One validation error in words, with the field's title. */
export function errorWords(
  error: RJSFValidationError,
  schema: IResourceSchema
): string {
  const key = (error.property ?? '').replace(/^\./, '');
  const field = schema.properties?.[key];
  const title = field?.title || key || schema.title || 'resources';
  const p = error.params ?? {};
  switch (error.name) {
    case 'minimum':
      return `${title} must be at least ${p.limit}`;
    case 'maximum':
      return `${title} must be at most ${p.limit}`;
    case 'exclusiveMinimum':
      return `${title} must be more than ${p.limit}`;
    case 'exclusiveMaximum':
      return `${title} must be less than ${p.limit}`;
    case 'type':
      return `${title} ${typeWords(p.type)}`;
    case 'enum':
      return `${title} must be one of ${(p.allowedValues ?? []).join(', ')}`;
    case 'multipleOf':
      return `${title} must be a multiple of ${p.multipleOf}`;
    case 'required':
      return `${title} is required`;
    case 'additionalProperties':
      return `'${p.additionalProperty}' is not a resource of this backend`;
    default:
      return `${title} ${error.message ?? 'is not valid'}`;
  }
}

/** rjsf's `transformErrors` for a schema: every message in words. */
export function transformErrors(
  schema: IResourceSchema
): (errors: RJSFValidationError[]) => RJSFValidationError[] {
  return errors =>
    errors.map(e => {
      const message = errorWords(e, schema);
      return { ...e, message, stack: message };
    });
}

/** What is wrong with these values, by field ('' for the object as a whole). */
export function validateResources(
  schema: IResourceSchema,
  values: IResources
): Record<string, string> {
  const { errors } = resourceValidator.validateFormData(
    values as ReadonlyJSONObject,
    formSchema(schema),
    undefined,
    transformErrors(schema)
  );
  const byField: Record<string, string> = {};
  for (const e of errors) {
    const key = (e.property ?? '').replace(/^\./, '');
    byField[key] ??= e.message ?? e.stack;
  }
  return byField;
}

/**
 * A job's resources in words, in the schema's order and with its titles and units
 * ("CPUs 2 · Memory 1024 MB"); keys the schema does not know follow as `key value`.
 */
export function formatResources(
  resources: IResources,
  schema?: IResourceSchema
): string {
  const props = schema?.properties ?? {};
  const keys = [
    ...Object.keys(props).filter(k => k in resources),
    ...Object.keys(resources).filter(k => !(k in props))
  ];
  const parts: string[] = [];
  for (const key of keys) {
    const value = resources[key];
    if (value === undefined || value === null || value === '') {
      continue;
    }
    const field = props[key];
    const text = typeof value === 'object' ? JSON.stringify(value) : value;
    const unit = field?.['x-unit'] ? ` ${field['x-unit']}` : '';
    parts.push(`${field?.title || key} ${text}${unit}`);
  }
  return parts.join(' · ') || '—';
}

import { IParam, isIdentifier, paramValue } from '../params';

/**
 * The submit form's own fields, checked with the same words as the server's 400 answers.
 * Resources are not checked here: their rules are the backend's `resource_schema`.
 */
export type FormErrors = Partial<Record<string, string>>;

/** What is wrong with a job name ('' when nothing). */
export function nameError(name: string): string {
  if ([...name].some(c => c.charCodeAt(0) < 32 || c.charCodeAt(0) === 127)) {
    return "'name' must be one line without control characters";
  }
  if (name.length > 200) {
    return "'name' must be at most 200 characters";
  }
  return '';
}

/** Typed parameter values, or what is wrong with each (`param-<index>`). */
export function validateParameters(params: IParam[]): {
  errors: FormErrors;
  parameters: Record<string, unknown>;
} {
  const errors: FormErrors = {};
  const parameters: Record<string, unknown> = {};
  params.forEach((p, i) => {
    if (!isIdentifier(p.name)) {
      errors[`param-${i}`] =
        `parameter name '${p.name}' is not a valid Python identifier`;
      return;
    }
    const v = paramValue(p);
    if (v.error !== undefined) {
      errors[`param-${i}`] = v.error;
    } else {
      parameters[p.name] = v.value;
    }
  });
  return { errors, parameters };
}

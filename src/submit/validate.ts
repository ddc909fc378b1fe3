import { IJobRequest, IResources } from '../api';
import { IParam, isIdentifier, paramValue } from '../params';

/** What the submit form edits (numbers as text, as typed). */
export interface IFormValues {
  backend: string;
  environment: string;
  name: string;
  cpus: string;
  memory_mb: string;
  gpus: string;
  gpu_memory_mb: string;
  gpu_capability: string;
  max_runtime_s: string;
  params: IParam[];
}

export type FormErrors = Partial<Record<string, string>>;

interface IRule {
  key: keyof IResources;
  min: number;
  limit?: string;
  optional?: boolean;
}

const RULES: IRule[] = [
  { key: 'cpus', min: 1, limit: 'max_cpus' },
  { key: 'memory_mb', min: 1, limit: 'max_memory_mb' },
  { key: 'gpus', min: 0, limit: 'max_gpus' },
  { key: 'gpu_memory_mb', min: 1, optional: true },
  { key: 'max_runtime_s', min: 1, limit: 'max_runtime_s', optional: true }
];

/**
 * The same checks, and the same words, as the server's 400 answers: a form that passes
 * here is not refused for its values.
 */
export function validate(
  values: IFormValues,
  limits: Record<string, number>
): { errors: FormErrors; request?: Omit<IJobRequest, 'notebook'> } {
  const errors: FormErrors = {};
  const resources: IResources = {};
  for (const rule of RULES) {
    const raw = (values[rule.key as keyof IFormValues] as string).trim();
    if (raw === '' && rule.optional) {
      continue;
    }
    if (!/^[+-]?\d+$/.test(raw)) {
      errors[rule.key] = `${rule.key} must be an integer`;
      continue;
    }
    const n = parseInt(raw, 10);
    const max = rule.limit ? limits[rule.limit] : undefined;
    if (n < rule.min) {
      errors[rule.key] = `${rule.key} must be at least ${rule.min}`;
    } else if (max !== undefined && n > max) {
      errors[rule.key] = `${rule.key} must be at most ${max} on this server`;
    } else {
      (resources as any)[rule.key] = n;
    }
  }
  const cap = values.gpu_capability.trim();
  if (cap !== '') {
    const c = Number(cap);
    if (!Number.isFinite(c) || c <= 0 || c >= 100) {
      errors.gpu_capability = 'gpu_capability must be a number like 8.0';
    } else {
      resources.gpu_capability = c;
    }
  }
  if (
    (resources.gpu_memory_mb || resources.gpu_capability) &&
    !resources.gpus
  ) {
    errors.gpus =
      'GPU constraints (gpu_memory_mb, gpu_capability) need gpus >= 1';
  }
  if (
    [...values.name].some(c => c.charCodeAt(0) < 32 || c.charCodeAt(0) === 127)
  ) {
    errors.name = "'name' must be one line without control characters";
  } else if (values.name.length > 200) {
    errors.name = "'name' must be at most 200 characters";
  }
  const parameters: Record<string, unknown> = {};
  values.params.forEach((p, i) => {
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
  if (Object.keys(errors).length) {
    return { errors };
  }
  return {
    errors,
    request: {
      backend: values.backend,
      environment: values.environment,
      name: values.name.trim() || undefined,
      parameters,
      resources
    }
  };
}

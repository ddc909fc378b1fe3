/**
 * The body of `POST jobs` from the submit form's values: the form's first values, and the
 * request once every value is valid (else what is wrong, by field).
 */
import { IBackend, IBackends, IJobRequest, IResources } from '../api';
import { IParam } from '../params';
import { requestResources, validateResources } from '../resources';
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

/**
 * The form's first values: the preferred backend if available (else the first available),
 * the preferred environment if known (else the first), the notebook's parameters.
 */
export function initialValues(
  backends: IBackends,
  params: IParam[],
  defaults: ISubmitDefaults,
  name = ''
): IFormValues {
  const available = backends.backends.filter(b => b.available);
  const preferred = defaults.backend ?? backends.default_backend;
  const environments = backends.environments;
  const environment =
    defaults.environment ?? backends.default_environment ?? '';
  return {
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
}

/** A request, or what is wrong with the values. */
export interface IBuiltRequest {
  /** Null when a value is wrong. */
  request: IJobRequest | null;
  /** Wrong values besides the resources (`backend`, `name`, `param-<i>`). */
  errors: FormErrors;
  /** Wrong resource values, by field. */
  resourceErrors: Record<string, string>;
}

/**
 * The request of the form's values: typed parameters, the resources as the backend's schema
 * accepts them, the inputs unless the backend sends no files (`capabilities.inputs` false).
 */
export function buildRequest(
  notebook: string,
  backend: IBackend | undefined,
  values: IFormValues,
  resources: IResources,
  inputs: () => string[] | undefined
): IBuiltRequest {
  const { errors, parameters } = validateParameters(values.params);
  const name = nameError(values.name);
  if (name) {
    errors.name = name;
  }
  if (!backend) {
    errors.backend = 'no backend is available';
  }
  const resourceErrors = backend
    ? validateResources(backend.resource_schema, resources)
    : {};
  const request =
    !backend || Object.keys(errors).length || Object.keys(resourceErrors).length
      ? null
      : {
          notebook,
          backend: backend.name,
          environment: values.environment,
          name: values.name.trim() || undefined,
          parameters,
          resources: requestResources(resources),
          inputs: backend.capabilities.inputs === false ? undefined : inputs()
        };
  return { request, errors, resourceErrors };
}

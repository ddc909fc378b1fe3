import { IResourceSchema } from '../api';
import {
  errorWords,
  fieldTitle,
  formatResources,
  formSchema,
  initialResources,
  requestResources,
  validateResources
} from '../resources';
import { nameError, validateParameters } from '../submit/validate';
import { makeBackends } from './fixtures';

const backends = makeBackends();
const BATCH = backends.backends[0].resource_schema;
const SPARK = backends.backends[1].resource_schema;

describe('resource schema', () => {
  it('titles fields with their unit', () => {
    expect(fieldTitle('memory_mb', BATCH.properties.memory_mb)).toBe(
      'Memory (MB)'
    );
    expect(fieldTitle('cpus', BATCH.properties.cpus)).toBe('CPUs');
    expect(fieldTitle('x', {})).toBe('x');
    const shown = formSchema(BATCH) as any;
    expect(shown.$schema).toBeUndefined();
    expect(shown.properties.max_runtime_s.title).toBe('Maximum runtime (s)');
    expect(BATCH.properties.max_runtime_s.title).toBe('Maximum runtime');
  });

  it('starts from preferred values the backend has, else its defaults', () => {
    // Given preferred values from settings, one of them a field of another backend
    const preferred = { cpus: 3, executors: 5, gpu_capability: null };
    // Then each backend takes what it has; empty (null) defaults are left out
    expect(initialResources(BATCH, preferred)).toEqual({
      cpus: 3,
      memory_mb: 2048,
      gpus: 0
    });
    expect(initialResources(SPARK, preferred)).toEqual({
      executors: 5,
      executor_size: 'small',
      cpus: 3
    });
    expect(requestResources({ a: 1, b: null, c: undefined })).toEqual({
      a: 1
    });
  });

  it('accepts values within the schema', () => {
    expect(
      validateResources(BATCH, { cpus: 4, memory_mb: 1, gpu_capability: 8.6 })
    ).toEqual({});
    expect(
      validateResources(SPARK, { executors: 8, executor_size: 'large' })
    ).toEqual({});
  });

  it.each([
    [{ cpus: 0 }, 'cpus', 'CPUs must be at least 1'],
    [{ cpus: 5 }, 'cpus', 'CPUs must be at most 4'],
    [{ cpus: 1.5 }, 'cpus', 'CPUs must be a whole number'],
    [{ memory_mb: 9000 }, 'memory_mb', 'Memory must be at most 8192'],
    [{ gpus: -1 }, 'gpus', 'GPUs must be at least 0'],
    [
      { gpu_capability: 0 },
      'gpu_capability',
      'Minimum GPU capability must be more than 0'
    ],
    [
      { gpu_capability: 'fast' },
      'gpu_capability',
      'Minimum GPU capability must be a number'
    ],
    [
      { max_runtime_s: 'long' },
      'max_runtime_s',
      'Maximum runtime must be a whole number'
    ],
    [{ executors: 1 }, '', "'executors' is not a resource of this backend"]
  ])('says in words what is wrong with %j', (values, field, message) => {
    expect(validateResources(BATCH, values)[field]).toBe(message);
  });

  it('names choices and other backends’ limits', () => {
    expect(validateResources(SPARK, { executor_size: 'huge' })).toEqual({
      executor_size: 'Executor size must be one of small, large'
    });
    expect(validateResources(SPARK, { executors: 9 })).toEqual({
      executors: 'Executors must be at most 8'
    });
    const required: IResourceSchema = {
      type: 'object',
      required: ['executors'],
      properties: { executors: { type: 'integer', title: 'Executors' } }
    };
    expect(validateResources(required, {})).toEqual({
      executors: 'Executors is required'
    });
    expect(
      errorWords(
        { name: 'pattern', property: '.x', message: 'must match' } as any,
        required
      )
    ).toBe('x must match');
  });

  it('shows a job’s resources with the schema’s titles and units', () => {
    expect(
      formatResources(
        { gpus: 1, cpus: 2, memory_mb: 1024, max_runtime_s: null },
        BATCH
      )
    ).toBe('CPUs 2 · Memory 1024 MB · GPUs 1');
    expect(formatResources({ executors: 4, extra: [1] }, SPARK)).toBe(
      'Executors 4 · extra [1]'
    );
    expect(formatResources({ cpus: 2 })).toBe('cpus 2');
    expect(formatResources({})).toBe('—');
  });
});

describe('parameters and name', () => {
  it('types the parameters', () => {
    const { errors, parameters } = validateParameters([
      { name: 'epochs', type: 'int', text: '10' },
      { name: 'lr', type: 'float', text: '0.5' }
    ]);
    expect(errors).toEqual({});
    expect(parameters).toEqual({ epochs: 10, lr: 0.5 });
  });

  it('names the parameter that is wrong', () => {
    const { errors } = validateParameters([
      { name: 'epochs', type: 'int', text: 'ten' },
      { name: 'class', type: 'str', text: 'x' }
    ]);
    expect(errors['param-0']).toBe('epochs must be an integer');
    expect(errors['param-1']).toBe(
      "parameter name 'class' is not a valid Python identifier"
    );
  });

  it('refuses names the server refuses', () => {
    expect(nameError('my run')).toBe('');
    expect(nameError('two\nlines')).toBe(
      "'name' must be one line without control characters"
    );
    expect(nameError('x'.repeat(201))).toBe(
      "'name' must be at most 200 characters"
    );
  });
});

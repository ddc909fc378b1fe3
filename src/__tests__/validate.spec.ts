import { IFormValues, validate } from '../submit/validate';

const LIMITS = { max_cpus: 16, max_memory_mb: 65536, max_gpus: 2 };

function values(over: Partial<IFormValues> = {}): IFormValues {
  return {
    backend: 'condor',
    environment: 'default',
    name: '',
    cpus: '2',
    memory_mb: '4096',
    gpus: '1',
    gpu_memory_mb: '',
    gpu_capability: '',
    max_runtime_s: '',
    params: [{ name: 'epochs', type: 'int', text: '10' }],
    ...over
  };
}

describe('validate', () => {
  it('builds the request the REST API expects', () => {
    const { errors, request } = validate(
      values({ name: 'my run', gpu_capability: '8.0' }),
      LIMITS
    );
    expect(errors).toEqual({});
    expect(request).toEqual({
      backend: 'condor',
      environment: 'default',
      name: 'my run',
      parameters: { epochs: 10 },
      resources: { cpus: 2, memory_mb: 4096, gpus: 1, gpu_capability: 8 }
    });
  });

  it.each([
    [{ cpus: '0' }, 'cpus', 'cpus must be at least 1'],
    [{ cpus: '-1' }, 'cpus', 'cpus must be at least 1'],
    [{ cpus: '1.5' }, 'cpus', 'cpus must be an integer'],
    [{ cpus: '' }, 'cpus', 'cpus must be an integer'],
    [{ cpus: '17' }, 'cpus', 'cpus must be at most 16 on this server'],
    [{ memory_mb: '0' }, 'memory_mb', 'memory_mb must be at least 1'],
    [{ gpus: '3' }, 'gpus', 'gpus must be at most 2 on this server'],
    [{ gpus: '-1' }, 'gpus', 'gpus must be at least 0'],
    [
      { gpus: '0', gpu_memory_mb: '8000' },
      'gpus',
      'GPU constraints (gpu_memory_mb, gpu_capability) need gpus >= 1'
    ],
    [
      { gpu_capability: 'fast' },
      'gpu_capability',
      'gpu_capability must be a number like 8.0'
    ],
    [
      { max_runtime_s: '0' },
      'max_runtime_s',
      'max_runtime_s must be at least 1'
    ],
    [
      { name: 'two\nlines' },
      'name',
      "'name' must be one line without control characters"
    ]
  ])('mirrors the server for %j', (over, field, message) => {
    const { errors, request } = validate(values(over as any), LIMITS);
    expect(request).toBeUndefined();
    expect(errors[field]).toBe(message);
  });

  it('names the parameter that is wrong', () => {
    const { errors } = validate(
      values({
        params: [
          { name: 'epochs', type: 'int', text: 'ten' },
          { name: 'class', type: 'str', text: 'x' }
        ]
      }),
      LIMITS
    );
    expect(errors['param-0']).toBe('epochs must be an integer');
    expect(errors['param-1']).toBe(
      "parameter name 'class' is not a valid Python identifier"
    );
  });
});

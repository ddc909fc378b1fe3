import { IBackends, IJob } from '../api';

/** A job as the REST API returns it; `created_at` orders jobs by their numeric id. */
export function makeJob(id: string, over: Partial<IJob> = {}): IJob {
  const n = Number(id) || 0;
  const mm = String(Math.floor(n / 60) % 60).padStart(2, '0');
  const ss = String(n % 60).padStart(2, '0');
  return {
    id,
    name: `job ${id}`,
    backend: 'condor',
    state: 'running',
    notebook: `nb/${id}.ipynb`,
    parameters: {},
    resources: { cpus: 2, memory_mb: 1024, gpus: 1 },
    environment: 'default',
    engine_ref: {
      cluster_id: 7,
      execute_host: 'slot1@node',
      assigned_gpus: 'GPU-1'
    },
    message: '',
    progress: { cells_done: 2, cells_total: 5 },
    created_at: `2026-11-28T1${Math.floor(n / 3600)}:${mm}:${ss}.000Z`,
    started_at: null,
    finished_at: null,
    outputs: {},
    ...over
  };
}

/**
 * GET backends as the server publishes it: a batch backend with GPUs, hold and live logs,
 * and a second one with fields of its own (executors, a choice) and fewer capabilities.
 */
export function makeBackends(over: Partial<IBackends> = {}): IBackends {
  return {
    backends: [
      {
        name: 'condor',
        title: 'HTCondor',
        available: true,
        capabilities: {
          cancel: true,
          hold: true,
          release: true,
          live_logs: true,
          progress: true,
          gpus: true,
          gpu_constraints: true
        },
        resource_schema: {
          $schema: 'https://json-schema.org/draft/2020-12/schema',
          type: 'object',
          title: 'Resources',
          additionalProperties: false,
          properties: {
            cpus: {
              type: 'integer',
              title: 'CPUs',
              description: 'CPU cores for the job',
              minimum: 1,
              maximum: 4,
              default: 1
            },
            memory_mb: {
              type: 'integer',
              title: 'Memory',
              'x-unit': 'MB',
              description: 'memory for the job, in MB',
              minimum: 1,
              maximum: 8192,
              default: 2048
            },
            gpus: {
              type: 'integer',
              title: 'GPUs',
              minimum: 0,
              maximum: 2,
              default: 0
            },
            gpu_capability: {
              type: ['number', 'null'],
              title: 'Minimum GPU capability',
              exclusiveMinimum: 0,
              exclusiveMaximum: 100,
              default: null
            },
            max_runtime_s: {
              type: ['integer', 'null'],
              title: 'Maximum runtime',
              'x-unit': 's',
              minimum: 1,
              maximum: 86400,
              default: null
            }
          }
        },
        engine_ref_labels: [
          { key: 'cluster_id', label: 'cluster' },
          { key: 'execute_host', label: 'on' },
          { key: 'assigned_gpus', label: 'GPUs' }
        ],
        resources: {
          gpus_total: 2,
          gpus_free: 1,
          gpu_types: [{ name: 'A100' }]
        }
      },
      {
        name: 'spark',
        title: 'Spark',
        available: true,
        capabilities: { cancel: true, live_logs: false, progress: false },
        resource_schema: {
          type: 'object',
          title: 'Resources',
          additionalProperties: false,
          properties: {
            executors: {
              type: 'integer',
              title: 'Executors',
              description: 'Spark executors',
              minimum: 1,
              maximum: 8,
              default: 2
            },
            executor_size: {
              type: 'string',
              title: 'Executor size',
              enum: ['small', 'large'],
              default: 'small'
            },
            cpus: {
              type: 'integer',
              title: 'Driver CPUs',
              minimum: 1,
              maximum: 4,
              default: 1
            }
          }
        },
        engine_ref_labels: [
          { key: 'app_id', label: 'application' },
          { key: 'internal', label: '' }
        ],
        resources: {}
      },
      {
        name: 'kubeflow',
        title: 'Kubeflow',
        available: false,
        reason: 'no cluster',
        capabilities: {},
        resource_schema: { type: 'object', properties: {} },
        engine_ref_labels: [],
        resources: {}
      }
    ],
    default_backend: 'condor',
    default_environment: 'default',
    environments: [
      { name: 'other', kernels: ['python3'] },
      { name: 'default', kernels: ['python3'] }
    ],
    limits: { max_cpus: 4, max_memory_mb: 8192, max_gpus: 2 },
    ...over
  };
}

/**
 * GET backends for a pool with mixed GPUs (like the personal pool's simulated ones): the
 * condor backend's schema has GPU memory and a GPU model whose options are the pool's
 * models (`x-options-from`), and `resources.gpu_types` says what each model has.
 */
export function makeGpuBackends(): IBackends {
  const backends = makeBackends();
  const condor = backends.backends[0];
  const properties = condor.resource_schema.properties;
  condor.resource_schema = {
    ...condor.resource_schema,
    properties: {
      cpus: properties.cpus,
      memory_mb: properties.memory_mb,
      gpus: { ...properties.gpus, maximum: 8 },
      gpu_memory_mb: {
        type: ['integer', 'null'],
        title: 'Minimum GPU memory',
        'x-unit': 'MB',
        minimum: 1,
        maximum: 10000000,
        default: null
      },
      gpu_capability: properties.gpu_capability,
      gpu_model: {
        type: ['string', 'null'],
        title: 'GPU model',
        maxLength: 100,
        pattern: '^[A-Za-z0-9][A-Za-z0-9 ._()/+-]*$',
        default: null,
        'x-options-from': 'gpu_types'
      }
    }
  };
  condor.resources = {
    gpus_total: 3,
    gpus_free: 2,
    gpu_types: [
      {
        name: 'Tesla V100-PCIE-16GB',
        total: 1,
        free: 1,
        memory_mb: 16384,
        capability: 7
      },
      {
        name: 'A100-SXM4-40GB',
        total: 2,
        free: 1,
        memory_mb: 40960,
        capability: 8
      }
    ]
  };
  return backends;
}

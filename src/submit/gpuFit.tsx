/**
 * GPU fit in the submit dialog: the pool's GPUs per model next to the GPU fields, choices
 * for fields whose options come from what the backend publishes (`x-options-from`), the
 * answer of `POST jobs/check` above Submit, and a GPU memory suggested from the peak of
 * this notebook's kernel in this session (`GET gpu`).
 */
import { ServerConnection, SessionAPI } from '@jupyterlab/services';
import * as React from 'react';

import { IBackend, IGpuType, IJobCheck } from '../api';
import { GpuAPI, IGpuStatus } from '../gpu/api';
import { IFitState } from './check';

/** The resource field a kernel's peak GPU memory suggests a value for (MB). */
export const GPU_MEMORY_FIELD = 'gpu_memory_mb';

/** The GPU models a backend publishes in `resources.gpu_types` (well-formed ones only). */
export function gpuTypes(backend: IBackend | undefined): IGpuType[] {
  const types = backend?.resources?.gpu_types;
  return Array.isArray(types)
    ? types.filter(
        (t): t is IGpuType => typeof t?.name === 'string' && t.name !== ''
      )
    : [];
}

/** "40 GB", "15.8 GB", "512 MB". */
export function formatMb(mb: number): string {
  if (mb < 1024) {
    return `${mb} MB`;
  }
  const gb = Math.round((mb / 1024) * 10) / 10;
  return `${gb} GB`;
}

/** "1 of 2 free · 40 GB · cc 8.0": what the pool has of one model. */
export function describeGpuType(t: IGpuType): string {
  const parts: string[] = [];
  if (typeof t.total === 'number') {
    parts.push(`${t.free ?? 0} of ${t.total} free`);
  }
  if (typeof t.memory_mb === 'number' && t.memory_mb > 0) {
    parts.push(formatMb(t.memory_mb));
  }
  if (
    t.capability !== null &&
    t.capability !== undefined &&
    t.capability !== ''
  ) {
    const cc = Number(t.capability);
    parts.push(`cc ${Number.isInteger(cc) ? cc.toFixed(1) : t.capability}`);
  }
  return parts.join(' · ');
}

/**
 * The choices of each field that takes its options from the backend's published resources
 * (`"x-options-from": "gpu_types"` → the names in `resources.gpu_types`).
 */
export function fieldChoices(
  backend: IBackend | undefined
): Record<string, string[]> {
  const choices: Record<string, string[]> = {};
  const properties = backend?.resource_schema?.properties ?? {};
  for (const [key, field] of Object.entries(properties)) {
    const from = field['x-options-from'];
    if (typeof from !== 'string') {
      continue;
    }
    const items = backend?.resources?.[from];
    choices[key] = Array.isArray(items)
      ? items
          .map(i => (typeof i === 'string' ? i : i?.name))
          .filter((n): n is string => typeof n === 'string' && n !== '')
      : [];
  }
  return choices;
}

/** GPU memory to ask for after a peak: 10% headroom, rounded up to whole GB (in MB). */
export function suggestedMb(peakBytes: number): number {
  return Math.ceil((peakBytes * 1.1) / 2 ** 30) * 1024;
}

/**
 * The highest peak GPU memory (bytes) of this notebook's kernel(s) in this session: the
 * kernels running for the notebook's sessions (`kernelIds`), else those the server maps to
 * the notebook's path. null when there is no GPU, no such kernel, or no peak.
 */
export function kernelPeak(
  status: IGpuStatus | null,
  notebook: string,
  kernelIds: readonly string[] = []
): number | null {
  if (!status?.available) {
    return null;
  }
  const peaks = (status.kernels ?? [])
    .filter(k =>
      kernelIds.length
        ? kernelIds.includes(k.kernel_id)
        : k.notebook === notebook
    )
    .map(k => k.peak_memory_bytes)
    .filter(p => typeof p === 'number' && p > 0);
  return peaks.length ? Math.max(...peaks) : null;
}

/** This session's GPUs, and the kernels of the notebook's sessions. */
export interface IGpuLookup {
  status: IGpuStatus | null;
  /** Kernel ids of the sessions open on the notebook (empty: none known). */
  kernelIds: string[];
}

/** `GET gpu` and the notebook's sessions, for the kernel's peak GPU memory. */
export async function lookupKernelGpu(
  notebook: string,
  settings: ServerConnection.ISettings
): Promise<IGpuLookup> {
  const [status, sessions] = await Promise.all([
    new GpuAPI(settings).status(),
    SessionAPI.listRunning(settings).catch(() => [])
  ]);
  const kernelIds = sessions
    .filter(s => s.path === notebook && s.kernel)
    .map(s => s.kernel!.id);
  return { status, kernelIds };
}

/**
 * The GPU memory (MB) to suggest for the notebook's kernel: its peak in this session with
 * headroom; null when there is none (no GPU, no NVML, no such kernel) or it cannot be read.
 */
export async function suggestGpuMemory(
  lookup: () => Promise<IGpuLookup>,
  notebook: string
): Promise<number | null> {
  try {
    const { status, kernelIds } = await lookup();
    const peak = kernelPeak(status, notebook, kernelIds);
    return peak === null ? null : suggestedMb(peak);
  } catch (reason) {
    console.warn('swan-ml-ext: no GPU memory suggestion', reason);
    return null;
  }
}

/** The pool's GPUs per model, with a button that fills GPU memory from the kernel's peak. */
export function PoolGpus(props: {
  backend: IBackend;
  /** GPU memory the kernel's peak suggests (MB); null: no suggestion. */
  suggestion: number | null;
  /** The current GPU memory value. */
  current: unknown;
  onSuggest: (mb: number) => void;
}): JSX.Element | null {
  const res = props.backend.resources ?? {};
  const types = gpuTypes(props.backend);
  const suggest =
    props.suggestion !== null &&
    GPU_MEMORY_FIELD in (props.backend.resource_schema?.properties ?? {}) &&
    props.current !== props.suggestion;
  if (res.gpus_total === undefined && !types.length && !suggest) {
    return null;
  }
  return (
    <div className="jp-SwanML-gpuPool">
      {res.gpus_total !== undefined && (
        <span className="jp-SwanML-hint">
          {`${res.gpus_free} of ${res.gpus_total} GPUs free in the pool`}
        </span>
      )}
      {types.length > 0 && (
        <ul aria-label="Pool GPUs by model">
          {types.map(t => (
            <li key={t.name}>
              <span className="jp-SwanML-gpuPool-name">{t.name}</span>
              <span className="jp-SwanML-hint">{describeGpuType(t)}</span>
            </li>
          ))}
        </ul>
      )}
      {suggest && (
        <button
          type="button"
          className="jp-mod-styled jp-SwanML-suggest"
          title="The highest GPU memory this notebook's kernel used in this session, plus 10%, rounded up to whole GB"
          onClick={() => props.onSuggest(props.suggestion!)}
        >
          {`Use ${props.suggestion} MB (this kernel's peak)`}
        </button>
      )}
    </div>
  );
}

function Lines(props: { items: string[]; className: string }): JSX.Element {
  return (
    <ul className={props.className}>
      {props.items.map((m, i) => (
        <li key={i}>{m}</li>
      ))}
    </ul>
  );
}

/**
 * The check's answer above Submit: why no machine can run the job (warning style), or what
 * will happen; warnings in either case; the server's refusal of the values.
 */
export function FitBox(props: { state: IFitState }): JSX.Element | null {
  const { answer, refused, busy } = props.state;
  const body = refused ? (
    <p className="jp-SwanML-fit-refused">
      The server would refuse this job: {refused}
    </p>
  ) : answer ? (
    <FitAnswer answer={answer} />
  ) : null;
  return (
    <div
      className={
        'jp-SwanML-fit' +
        (answer?.feasible === false ? ' jp-mod-infeasible' : '') +
        (refused ? ' jp-mod-refused' : '') +
        (body ? '' : ' jp-mod-empty')
      }
      role="status"
      aria-label="Pool fit"
      aria-busy={busy}
    >
      {body}
    </div>
  );
}

function FitAnswer({ answer }: { answer: IJobCheck }): JSX.Element | null {
  const warnings = answer.warnings ?? [];
  const reasons = answer.reasons?.length
    ? answer.reasons
    : answer.message
      ? [answer.message]
      : [];
  if (answer.feasible && !answer.message && !warnings.length) {
    return null;
  }
  return (
    <>
      {answer.feasible === false ? (
        <>
          <strong>No machine in the pool can run this job as asked:</strong>
          <Lines items={reasons} className="jp-SwanML-fit-reasons" />
        </>
      ) : (
        answer.message && (
          <span className="jp-SwanML-fit-message">{answer.message}</span>
        )
      )}
      {warnings.length > 0 && (
        <Lines items={warnings} className="jp-SwanML-fit-warnings" />
      )}
    </>
  );
}

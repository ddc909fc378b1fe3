import * as React from 'react';

import { ISparkProfile, ISparkSession, parseConfLines } from './api';
import type { IActiveNotebook } from './notebooks';
import type { ISparkModel } from './tokens';

/** Why Connect cannot be used now, or null when it can. */
export function connectBlocker(
  notebook: IActiveNotebook | null,
  session: ISparkSession | undefined
): string | null {
  if (!notebook) {
    return 'Open a notebook to connect it to Spark.';
  }
  if (!notebook.kernelId) {
    return 'This notebook has no running kernel: start one to connect it.';
  }
  if (session) {
    return `This notebook is connected (profile ${session.profile}).`;
  }
  return null;
}

function useProfiles(model: ISparkModel): {
  profiles: ISparkProfile[];
  fallback: string;
  error: string | null;
} {
  const [state, setState] = React.useState({
    profiles: [] as ISparkProfile[],
    fallback: '',
    error: null as string | null
  });
  React.useEffect(() => {
    let live = true;
    model
      .profiles()
      .then(
        p =>
          live &&
          setState({ profiles: p.profiles, fallback: p.default, error: null })
      )
      .catch(
        reason =>
          live &&
          setState(s => ({ ...s, error: reason?.message ?? String(reason) }))
      );
    return () => {
      live = false;
    };
  }, [model]);
  return state;
}

/** Connect the active notebook's kernel to Spark: profile, extra conf, Connect. */
export function ConnectBox(props: {
  model: ISparkModel;
  notebook: IActiveNotebook | null;
}): JSX.Element {
  const { model, notebook } = props;
  const { profiles, fallback, error: profilesError } = useProfiles(model);
  const [chosen, setChosen] = React.useState('');
  const [conf, setConf] = React.useState('');
  const [busy, setBusy] = React.useState(false);
  const [error, setError] = React.useState<string | null>(null);
  const session = notebook?.kernelId
    ? model.sessionOfKernel(notebook.kernelId)
    : undefined;
  const blocker = connectBlocker(notebook, session);
  const name = chosen || fallback || profiles[0]?.name || '';
  const profile = profiles.find(p => p.name === name);

  const connect = async () => {
    if (!notebook?.kernelId || !name) {
      return;
    }
    setError(null);
    let extra: Record<string, string>;
    try {
      extra = parseConfLines(conf);
    } catch (reason: any) {
      setError(`Extra conf: ${reason.message}`);
      return;
    }
    setBusy(true);
    try {
      await model.connect(notebook.kernelId, name, extra);
    } catch (reason: any) {
      setError(reason?.message ?? String(reason));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="jp-SwanSpark-connect" data-testid="spark-connect">
      <div className="jp-SwanSpark-connect-target">
        {notebook ? (
          <span className="jp-SwanSpark-path" title={notebook.path}>
            <bdi>{notebook.path}</bdi>
          </span>
        ) : (
          <span>no notebook</span>
        )}
      </div>
      {blocker ? (
        <p className="jp-SwanSpark-hint" data-testid="spark-connect-reason">
          {blocker}
        </p>
      ) : (
        <>
          <label className="jp-SwanSpark-field">
            <span>Profile</span>
            <select
              className="jp-mod-styled"
              aria-label="Spark profile"
              data-testid="spark-profile"
              value={name}
              disabled={busy}
              onChange={e => setChosen(e.target.value)}
            >
              {profiles.map(p => (
                <option key={p.name} value={p.name} title={p.description}>
                  {p.name} ({p.kind === 'connect' ? 'Connect' : 'classic'})
                </option>
              ))}
            </select>
          </label>
          {profile?.description && (
            <p className="jp-SwanSpark-hint">{profile.description}</p>
          )}
          {(profile?.notes ?? []).map(note => (
            <p key={note} className="jp-SwanSpark-hint">
              note: {note}
            </p>
          ))}
          <label className="jp-SwanSpark-field">
            <span>Extra conf (key=value a line)</span>
            <textarea
              className="jp-mod-styled"
              aria-label="Extra Spark conf"
              data-testid="spark-conf"
              rows={2}
              placeholder="spark.executor.memory=1g"
              value={conf}
              disabled={busy}
              onChange={e => setConf(e.target.value)}
            />
          </label>
          <button
            className="jp-mod-styled jp-mod-accept jp-SwanSpark-connect-button"
            data-testid="spark-connect-button"
            disabled={busy || !name}
            onClick={() => void connect()}
          >
            {busy ? 'Connecting…' : 'Connect'}
          </button>
        </>
      )}
      {(error || profilesError) && (
        <p
          className="jp-SwanSpark-error"
          role="alert"
          data-testid="spark-connect-error"
        >
          {error ?? `Profiles unavailable: ${profilesError}`}
        </p>
      )}
    </div>
  );
}

/** The inputs specs' server answers and workspace. */
import { IDetectedInput } from '../api';
import { IInputFiles, IMeasured } from '../submit/inputs';

/** What the server's detection answers for ana/read.ipynb (see README "Detection"). */
export function detected(): IDetectedInput[] {
  return [
    {
      path: 'ana/data',
      kind: 'folder',
      bytes: 12800,
      files: 3,
      in_place: false,
      cell: 1
    },
    {
      path: 'ana/cfg.yaml',
      kind: 'file',
      bytes: 300,
      files: 1,
      in_place: false,
      cell: 2
    },
    {
      path: '/eos/user/j/jdoe/run1.root',
      kind: 'file',
      bytes: 0,
      files: 0,
      in_place: true,
      cell: 3
    },
    {
      path: 'ana/escape',
      kind: 'folder',
      bytes: 0,
      files: 0,
      in_place: false,
      cell: 4,
      problem: "'ana/escape/x' is a link out of the server root"
    }
  ];
}

/** A workspace of a few files: sizes by path, folders by their content. */
export function workspace(
  sizes: Record<string, number> = {
    'ana/read.ipynb': 900,
    'ana/data/events.csv': 10000,
    'ana/data/more.csv': 2000,
    'ana/data/sub/x.csv': 800,
    'ana/cfg.yaml': 300,
    'common/lumi.csv': 4096,
    'ana/model.h5': 3 * 1024 ** 2
  }
): IInputFiles & { measured: string[] } {
  const measured: string[] = [];
  const under = (p: string) =>
    Object.keys(sizes).filter(f => f.startsWith(`${p}/`));
  return {
    measured,
    async measure(path: string): Promise<IMeasured> {
      measured.push(path);
      if (path in sizes) {
        return { kind: 'file', bytes: sizes[path], files: 1 };
      }
      const inside = under(path);
      if (!inside.length) {
        throw new Error(`no ${path}`);
      }
      return {
        kind: 'folder',
        bytes: inside.reduce((a, f) => a + sizes[f], 0),
        files: inside.length
      };
    },
    async list(folder: string): Promise<string[]> {
      const names = new Set(
        under(folder).map(f => {
          const rest = f.slice(folder.length + 1).split('/');
          return rest.length > 1
            ? `${folder}/${rest[0]}/`
            : `${folder}/${rest[0]}`;
        })
      );
      return Array.from(names).sort();
    }
  };
}

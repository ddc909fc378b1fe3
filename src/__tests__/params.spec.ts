import {
  isIdentifier,
  notebookParameters,
  paramValue,
  parseParametersCell
} from '../params';

describe('parseParametersCell', () => {
  it('reads typed literals from name = value lines', () => {
    // Given a parameters cell with every literal kind, comments and other code
    const src = [
      'epochs = 200  # how long',
      'lr = 0.05',
      'scale = 1e-3',
      'use_gpu = True',
      "label = 'run \\'7\\''",
      'path = "data/x.csv"',
      'layers = [64, 32]',
      "opts = {'a': True, 'b': None}",
      'seed = None',
      'n: int = 3',
      'computed = epochs * 2',
      'import os'
    ].join('\n');
    // When it is parsed
    const params = parseParametersCell(src);
    // Then each literal has its type, and code that is not a literal is left out
    expect(params.map(p => [p.name, p.type, p.text])).toEqual([
      ['epochs', 'int', '200'],
      ['lr', 'float', '0.05'],
      ['scale', 'float', '1e-3'],
      ['use_gpu', 'bool', 'true'],
      ['label', 'str', "run '7'"],
      ['path', 'str', 'data/x.csv'],
      ['layers', 'json', '[64, 32]'],
      ['opts', 'json', '{"a": true, "b": null}'],
      ['seed', 'none', ''],
      ['n', 'int', '3']
    ]);
  });

  it('finds the parameters-tagged cell of a notebook', () => {
    const nb = {
      cells: [
        { cell_type: 'code', metadata: {}, source: 'x = 1' },
        {
          cell_type: 'code',
          metadata: { tags: ['parameters'] },
          source: ['x = 2\n', "name = 'a'"]
        }
      ]
    };
    expect(notebookParameters(nb).map(p => p.name)).toEqual(['x', 'name']);
    expect(notebookParameters({ cells: [] })).toEqual([]);
  });
});

describe('paramValue', () => {
  it.each([
    [{ name: 'n', type: 'int', text: '42' }, 42],
    [{ name: 'x', type: 'float', text: '2.5' }, 2.5],
    [{ name: 'b', type: 'bool', text: 'false' }, false],
    [{ name: 's', type: 'str', text: ' keep spaces ' }, ' keep spaces '],
    [{ name: 'j', type: 'json', text: '[1, {"a": 2}]' }, [1, { a: 2 }]],
    [{ name: 'z', type: 'none', text: '' }, null]
  ])('converts %j', (param: any, value) => {
    expect(paramValue(param)).toEqual({ value });
  });

  it.each([
    [{ name: 'n', type: 'int', text: '4.2' }, 'n must be an integer'],
    [{ name: 'x', type: 'float', text: 'abc' }, 'x must be a number'],
    [{ name: 'x', type: 'float', text: 'Infinity' }, 'x must be a number'],
    [{ name: 'b', type: 'bool', text: 'yes' }, 'b must be true or false'],
    [{ name: 'j', type: 'json', text: '[1,' }, 'j must be valid JSON']
  ])('refuses %j', (param: any, error) => {
    expect(paramValue(param)).toEqual({ error });
  });

  it('knows Python identifiers', () => {
    expect(isIdentifier('learning_rate')).toBe(true);
    expect(isIdentifier('2x')).toBe(false);
    expect(isIdentifier('class')).toBe(false);
    expect(isIdentifier('a b')).toBe(false);
  });
});

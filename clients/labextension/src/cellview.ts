/**
 * One shared cell in the student's list: the teacher's source (read-only), its outputs when the session
 * shares them, a "changed" mark (the teacher's version differs from the student's last pull), a diff
 * against the student's cell, and the Pull / Replace mine buttons. Updated in place, so typing by the
 * teacher does not rebuild the list (nor move its scroll position).
 */
import { ICellStatus } from './api';
import { hunks, lineDiff } from './diff';
import { button, el } from './dom';
import { IProjectedCell } from './room';

export interface ICellActions {
  pull(cellId: string, replace: boolean): void;
}

export class SharedCellView {
  readonly node: HTMLElement;
  private readonly _prompt = el('div', { class: 'jp-rtc-prompt' });
  private readonly _badge = el('span', { class: 'jp-rtc-badge', 'data-test': 'cell-changed' }, 'changed');
  private readonly _source = el('pre', { class: 'jp-rtc-source', 'data-test': 'cell-source' });
  private readonly _outputs = el('div', { class: 'jp-rtc-outputs', 'data-test': 'cell-outputs' });
  private readonly _diff = el('details', { class: 'jp-rtc-diff', 'data-test': 'cell-diff' });
  private readonly _pull: HTMLButtonElement;
  private readonly _replace: HTMLButtonElement;
  private _outputsJson = '';
  private _diffKey = '';

  constructor(
    readonly id: string,
    actions: ICellActions
  ) {
    this._pull = button('Pull', 'pull', () => actions.pull(id, false));
    this._replace = button('Replace mine', 'replace', () => actions.pull(id, true), 'warn');
    this._pull.title = 'Add the teacher’s version of this cell to your notebook';
    this._replace.title = 'Replace the cell you pulled from this one with the teacher’s version';
    this.node = el(
      'div',
      { class: 'jp-rtc-cell', 'data-test': 'shared-cell', 'data-cell-id': id },
      el('div', { class: 'jp-rtc-cell-head' }, this._prompt, this._badge, el('span', { class: 'jp-rtc-spacer' }), this._pull, this._replace),
      this._source,
      this._outputs,
      this._diff
    );
  }

  /**
   * Show the teacher's current version; `status`: what the student pulled (null: not known yet); `mine`:
   * the source of the student's cell pulled from it, as their notebook holds it now (null: not open).
   */
  update(cell: IProjectedCell, status: ICellStatus | null, mine: string | null, canPull: boolean, busy: boolean): void {
    const count = cell.cell_type === 'code' ? `[${cell.execution_count ?? ' '}]` : cell.cell_type;
    this._prompt.textContent = count;
    if (this._source.textContent !== cell.source) {
      this._source.textContent = cell.source;
    }
    const changed = !!status?.pulled_hash && status.pulled_hash !== cell.source_hash;
    this.node.classList.toggle('jp-rtc-mod-changed', changed);
    this._badge.hidden = !changed;
    this._renderOutputs(cell.outputs);
    const pulledHere = !!status?.student_cell_id;
    this._pull.disabled = !canPull || busy;
    this._replace.hidden = !pulledHere;
    this._replace.disabled = !canPull || busy;
    this._renderDiff(pulledHere ? mine : null, cell.source, pulledHere ? (status?.diff ?? '') : null);
  }

  setTeacherActive(active: boolean): void {
    this.node.classList.toggle('jp-rtc-mod-teacher', active);
  }

  private _renderOutputs(outputs: any[] | undefined): void {
    const json = JSON.stringify(outputs ?? null);
    if (json === this._outputsJson) {
      return;
    }
    this._outputsJson = json;
    this._outputs.replaceChildren(...(outputs ?? []).map(renderOutput));
    this._outputs.hidden = !outputs?.length;
  }

  /**
   * The diff of the student's cell (`mine`) against the teacher's (`theirs`), computed here so that it is
   * live; without the student's cell at hand, the server's unified diff (`fallback`); nothing when both
   * are null (nothing pulled into this notebook).
   */
  private _renderDiff(mine: string | null, theirs: string, fallback: string | null): void {
    const key = JSON.stringify([mine, theirs, fallback]);
    if (key === this._diffKey) {
      return;
    }
    this._diffKey = key;
    this._diff.hidden = mine === null && fallback === null;
    if (this._diff.hidden) {
      return;
    }
    let lines: HTMLElement[];
    if (mine !== null) {
      const shown = hunks(lineDiff(mine, theirs));
      lines = shown.map(line =>
        line === null
          ? el('div', { class: 'jp-rtc-diff-hunk' }, '…')
          : el('div', { class: `jp-rtc-diff-${line.kind}` }, `${{ ctx: ' ', add: '+', del: '-' }[line.kind]}${line.text}`)
      );
    } else {
      lines = (fallback ?? '').split('\n').filter(Boolean).map(line => {
        const kind = line.startsWith('+') ? 'add' : line.startsWith('-') ? 'del' : line.startsWith('@') ? 'hunk' : 'ctx';
        return el('div', { class: `jp-rtc-diff-${kind}` }, line);
      });
    }
    if (!lines.length) {
      lines = [el('div', { class: 'jp-rtc-diff-ctx' }, 'Your cell is the teacher’s version.')];
    }
    const open = (this._diff as HTMLDetailsElement).open;
    this._diff.replaceChildren(el('summary', {}, 'Diff: your cell (−) → the teacher’s (+)'), el('pre', {}, ...lines));
    (this._diff as HTMLDetailsElement).open = open;
  }
}

/** One nbformat output as text (streams, text/plain results, errors) or an image. */
function renderOutput(output: any): HTMLElement {
  const text = (value: any) => (Array.isArray(value) ? value.join('') : String(value ?? ''));
  switch (output?.output_type) {
    case 'stream':
      return el('pre', { class: `jp-rtc-output jp-rtc-output-${output.name}` }, text(output.text));
    case 'error':
      return el('pre', { class: 'jp-rtc-output jp-rtc-output-error' }, `${output.ename}: ${output.evalue}`);
    case 'execute_result':
    case 'display_data': {
      const data = output.data ?? {};
      if (data['image/png']) {
        return el('img', { class: 'jp-rtc-output', src: `data:image/png;base64,${text(data['image/png'])}` });
      }
      return el('pre', { class: 'jp-rtc-output' }, text(data['text/plain']));
    }
    default:
      return el('pre', { class: 'jp-rtc-output' }, '');
  }
}

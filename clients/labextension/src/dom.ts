/** Small DOM builders for the panels (JupyterLab's own CSS classes for controls). */

export type Child = Node | string | null | undefined | false;

/** `<tag attrs...>children</tag>`; attributes are set as strings, falsy children are skipped. */
export function el(tag: string, attrs: { [name: string]: string } = {}, ...children: Child[]): HTMLElement {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    node.setAttribute(name, value);
  }
  for (const child of children) {
    if (child) {
      node.append(child);
    }
  }
  return node;
}

/** A JupyterLab styled button; `kind`: 'accept' (default), 'reject' or 'warn'. */
export function button(label: string, test: string, onClick: () => unknown, kind = 'accept'): HTMLButtonElement {
  const node = el('button', { class: `jp-Button jp-mod-styled jp-mod-${kind} jp-rtc-button`, 'data-test': test }, label);
  node.addEventListener('click', () => void onClick());
  return node as HTMLButtonElement;
}

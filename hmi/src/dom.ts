/**
 * A few lines instead of a framework: the page is a handful of panels whose
 * cells are updated in place, so a virtual DOM would only cost bytes.
 */

export type Child = Node | string | number | null | undefined | false;

export type Props = Readonly<Record<string, string | number | boolean | null | undefined>>;

/**
 * Creates an element. Props become attributes (`true` → present, `false`/
 * `null`/`undefined` → absent); children are appended, strings as text
 * (never parsed as HTML, so names and chat text from the server cannot inject markup).
 */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === false || value === null || value === undefined) continue;
    element.setAttribute(name, value === true ? '' : String(value));
  }
  append(element, children);
  return element;
}

export function append(parent: Node, children: readonly Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
}

/** The element with this id, which index.html must contain. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`index.html lacks #${id}`);
  return element as T;
}

/** Sets text only when it changed (cheap updates at telemetry rates). */
export function setText(element: Element, text: string): boolean {
  if (element.textContent === text) return false;
  element.textContent = text;
  return true;
}

/** Restarts a CSS animation class, e.g. the flash of a value that changed. */
export function flash(element: HTMLElement, className = 'changed'): void {
  element.classList.remove(className);
  // Reading offsetWidth forces a reflow so that re-adding the class restarts the animation.
  void element.offsetWidth;
  element.classList.add(className);
}

/*
 * The console's only way to make DOM: elements with text nodes and attributes. Data from
 * the server (model ids, reasons, alias names) goes into text and attribute values, so
 * it is never parsed as markup (eslint.config.mjs of this project refuses innerHTML and
 * its kin; the page's Content-Security-Policy refuses inline script besides).
 */

type Child = Node | string | number | null | undefined | false;

export interface Props {
  readonly class?: string;
  readonly text?: string;
  readonly title?: string;
  /** Plain attributes (`type`, `aria-label`, ...): never an event handler or a URL from data. */
  readonly attrs?: Readonly<Record<string, string>>;
  /** `data-*` attributes, by their name without the prefix. */
  readonly data?: Readonly<Record<string, string | number>>;
}

function append(parent: Node, children: readonly Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(
      typeof child === 'string' || typeof child === 'number'
        ? document.createTextNode(String(child))
        : child,
    );
  }
}

function apply(node: Element, props: Props): void {
  if (props.class) node.setAttribute('class', props.class);
  if (props.title !== undefined) node.setAttribute('title', props.title);
  for (const [name, value] of Object.entries(props.attrs ?? {}))
    node.setAttribute(name, value);
  for (const [name, value] of Object.entries(props.data ?? {}))
    node.setAttribute(`data-${name}`, String(value));
  if (props.text !== undefined) node.textContent = props.text;
}

/** `<tag>` with `props` and `children` (strings become text nodes). */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props = {},
  children: readonly Child[] = [],
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  apply(node, props);
  append(node, children);
  return node;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** An SVG element with numeric or text attributes. */
export function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Readonly<Record<string, string | number>> = {},
  children: readonly Child[] = [],
): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs))
    node.setAttribute(name, String(value));
  append(node, children);
  return node;
}

/** Replaces what `parent` holds with `children`. */
export function fill(parent: Element, children: readonly Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

export type Child = string | number | VNode | Child[];
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export interface VNode { tag: string | ((p: any) => VNode); props: Record<string, unknown>; children: Child[] }
export function h(tag: VNode['tag'], props: Record<string, unknown> | null, ...children: Child[]): VNode {
  return { tag, props: props ?? {}, children };
}
export function render(n: Child): string {
  if (typeof n !== 'object') return String(n);
  if (Array.isArray(n)) return n.map(render).join('');
  if (typeof n.tag === 'function') return render(n.tag({ ...n.props, children: n.children }));
  return `<${n.tag}>${n.children.map(render).join('')}</${n.tag}>`;
}
declare global {
  namespace JSX {
    type Element = VNode;
    interface IntrinsicElements { [tag: string]: Record<string, unknown> }
  }
}

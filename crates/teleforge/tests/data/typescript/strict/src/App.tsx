import { h, type VNode } from './h.js';
type ItemProps = { name: string; done?: boolean };
export function Item({ name, done = false }: ItemProps): VNode {
  const mark = done ? 'x' : ' ';
  return <li>[{mark}] {name}</li>;
}
export const List = <T extends { id: number; name: string },>({ items }: { items: T[] }) =>
  <ul>{items.map((i) => <Item name={i.name} done={i.id % 2 === 0} />)}</ul>;
export function App(props: { title: string }): VNode {
  const items = [{ id: 1, name: 'a' }, { id: 2, name: 'b' }];
  return <div><h1>{props.title}</h1><List items={items} /></div>;
}

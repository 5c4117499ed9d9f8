import { h } from './h.js';
export function Badge(props) {
  const text = props.text.toUpperCase();
  return <b>{text}</b>;
}

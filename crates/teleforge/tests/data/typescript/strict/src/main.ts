import { object, twice, sequence, multiline, thrower, withDefault, literal, tuple, narrowed, contextual, generic, Counter } from './arrows.js';
import { Circle, Square, Plain, Shape, point, overloaded, Geometry, Color, isPair, assertPositive, definite, config } from './classes.js';
import { countUp, failing, loops, chained, caught } from './flow.js';
import { report } from './own_tel.js';
import { h, render } from './h.js';
import { App } from './App.js';
import { Badge } from './legacy.js';

const out: string[] = [];
out.push(JSON.stringify([object(2), twice(3), sequence(0), multiline('a', 'b'), withDefault(1), literal(), tuple(), narrowed('abc'), contextual()(1), generic(5)]));
try { thrower() } catch (e) { out.push(String(e)) }
const counter = new Counter(); counter.increment(); counter.increment(2); out.push(`counter ${counter.count}`);
const c = new Circle(1, 7, 8); const s = new Square(3); const p = new Plain();
c.label = 'round';
out.push(`${c.label} ${s.area()} ${c.area()} ${[...s].join(',')} ${Shape.count} ${p.area()} ${await c.later(1)}`);
out.push(`${point.sum} ${point['quoted key']()} ${overloaded('a')} ${overloaded(2)} ${Geometry.unit()} ${Color.Green}`);
out.push(`${isPair([1, 2])} ${definite()} ${config.name}`);
assertPositive(1);
const g = countUp(3); out.push(`${[...g].join(',')}`);
try { [...failing()] } catch (e) { out.push(String(e)) }
out.push(JSON.stringify(await loops([4, 5], { k: 9 })));
out.push(`${chained()} ${caught()} ${report(4)}`);
out.push(render(h(App, { title: 'T' })));
out.push(render(h(Badge, { text: 'hi' })));
out.push(new Error('where').stack?.split('\n')[1]?.includes('main.') ? 'stack ok' : 'stack?');
console.log(out.join('\n'));
console.log('done');

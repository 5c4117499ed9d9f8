// An ES module by its extension, with top-level await.
export default function triple(x) {
  return x * 3;
}

export const ready = await Promise.resolve('ready');

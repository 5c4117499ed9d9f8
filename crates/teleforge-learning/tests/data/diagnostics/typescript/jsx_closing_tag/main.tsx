export const A = () => <div><p></div>;

const depth = 0;
depth = depth + 1;
console.log(depth);

function funcEntry(name) {
  console.log("enter", name);
}

export { funcEntry };

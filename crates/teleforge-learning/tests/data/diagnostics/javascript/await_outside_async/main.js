function load() {
  const data = await fetchData();
  return data;
}

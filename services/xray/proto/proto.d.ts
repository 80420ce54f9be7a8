// The .proto files here are imported as text (`with { type: 'text' }`): the build puts them in the binary.
declare module '*.proto' {
  const source: string
  // biome-ignore lint/style/noDefaultExport: a text import has exactly one, default, export
  export default source
}

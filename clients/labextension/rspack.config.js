// Module ids from the order of the module graph instead of hashes of module identifiers: the
// identifier of the federation container embeds the absolute path of the package, so hashed ids (hence
// content hashes and file names) would change with the directory the extension is built in.
module.exports = {
  optimization: {
    moduleIds: 'natural'
  }
};

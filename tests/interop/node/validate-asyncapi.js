// Validates AsyncAPI documents with the official parser (@asyncapi/parser): prints one line per
// file and exits non-zero if any has an error-level diagnostic.
const fs = require("fs");
const { Parser } = require("@asyncapi/parser");

(async () => {
  const parser = new Parser();
  let failed = false;
  for (const file of process.argv.slice(2)) {
    const { document, diagnostics } = await parser.parse(fs.readFileSync(file, "utf8"));
    const errors = diagnostics.filter((d) => d.severity === 0);
    if (!document || errors.length > 0) {
      failed = true;
      const shown = errors.map((e) => ({ message: e.message, path: e.path.join(".") }));
      console.log(`${file}: INVALID ${JSON.stringify(shown)}`);
    } else {
      console.log(
        `${file}: valid AsyncAPI ${document.version()} (${document.channels().length} channels, ` +
          `${document.operations().length} operations, ${document.components().schemas().length} schemas)`
      );
    }
  }
  process.exit(failed ? 1 : 0);
})().catch((error) => {
  console.error(error.stack || String(error));
  process.exit(2);
});

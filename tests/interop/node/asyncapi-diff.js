// Compares pairs of AsyncAPI documents with @asyncapi/diff, after parsing and dereferencing each
// with @asyncapi/parser (which @asyncapi/diff requires). Arguments: NAME OLD.json NEW.json,
// repeated. Prints one JSON line per pair: the counts of breaking, non-breaking and unclassified
// changes and the verdict (`breaking` when any change is breaking, `non-breaking` when there are
// changes and none breaks or is unclassified, `unclassified` otherwise, `none` when nothing
// changed), and the JSON pointers of the breaking changes.
const fs = require("fs");
const { Parser } = require("@asyncapi/parser");
const { diff } = require("@asyncapi/diff");

async function load(parser, file) {
  const { document, diagnostics } = await parser.parse(fs.readFileSync(file, "utf8"));
  if (!document) {
    const errors = diagnostics.filter((d) => d.severity === 0).map((d) => d.message);
    throw new Error(`${file}: not a valid AsyncAPI document: ${errors.join("; ")}`);
  }
  return document.json();
}

(async () => {
  const parser = new Parser();
  const args = process.argv.slice(2);
  for (let i = 0; i + 2 < args.length; i += 3) {
    const [name, oldFile, newFile] = args.slice(i, i + 3);
    const output = diff(await load(parser, oldFile), await load(parser, newFile));
    const breaking = output.breaking();
    const nonBreaking = output.nonBreaking();
    const unclassified = output.unclassified();
    let verdict = "none";
    if (breaking.length > 0) verdict = "breaking";
    else if (unclassified.length > 0) verdict = "unclassified";
    else if (nonBreaking.length > 0) verdict = "non-breaking";
    console.log(
      JSON.stringify({
        name,
        verdict,
        breaking: breaking.length,
        non_breaking: nonBreaking.length,
        unclassified: unclassified.length,
        breaking_paths: breaking.map((c) => `${c.action} ${c.path}`),
      })
    );
  }
})().catch((error) => {
  console.error(error.stack || String(error));
  process.exit(2);
});

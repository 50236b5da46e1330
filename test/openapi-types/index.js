// Resolved from this folder, `openapi-typescript` finds the TypeScript 5.x installed beside it,
// not the project's TypeScript 7.
import openapiTS, { astToString } from 'openapi-typescript'

/** TypeScript declarations (`paths`, `components`, `operations`) for an OpenAPI document. */
export async function generateTypes(document) {
  return astToString(await openapiTS(document, { enumValues: false, alphabetize: true }))
}

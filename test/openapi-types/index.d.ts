/** TypeScript declarations (`paths`, `components`, `operations`) for an OpenAPI document. */
export function generateTypes(document: object): Promise<string>

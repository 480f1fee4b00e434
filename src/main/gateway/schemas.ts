import { z } from 'zod'
import { Decision, Reason, Transaction } from '../../shared/transaction'

/**
 * The Decision API's request and response shapes. Requests use the stream's own Transaction schema;
 * /openapi.json is generated from these with z.toJSONSchema, never written by hand.
 */

export const MAX_BATCH = 1000

export const BatchRequest = z.object({
  transactions: z.array(z.unknown()).min(1).max(MAX_BATCH),
})

export const FieldError = z.object({ field: z.string(), message: z.string() })

export const DecisionResponse = z.object({
  txn_id: z.uuid(),
  decision: Decision,
  score: z.number().int().min(0).max(100),
  reasons: z.array(Reason),
  rules_version: z.number().int(),
  /** true: the decision the worker stored; false: provisional, computed past the budget. */
  final: z.boolean(),
  latency_ms: z.number(),
  /** The transaction was sent before: this is its original decision. */
  duplicate: z.literal(true).optional(),
})

export const BatchResponse = z.object({
  items: z.array(
    z.object({
      index: z.number().int(),
      txn_id: z.string().optional(),
      status: z.enum(['accepted', 'duplicate', 'conflict', 'invalid']),
      errors: z.array(FieldError).optional(),
      fields: z.array(z.string()).optional(),
    }),
  ),
  accepted: z.number().int(),
  duplicates: z.number().int(),
  conflicts: z.number().int(),
  invalid: z.number().int(),
})

export const LookupResponse = z.object({
  txn_id: z.uuid(),
  status: z.enum(['stored', 'pending']),
  decision: DecisionResponse.omit({ latency_ms: true }).optional(),
})

export const ErrorResponse = z.object({
  error: z.string(),
  errors: z.array(FieldError).optional(),
  fields: z.array(z.string()).optional(),
})

const json = (schema: z.ZodType, io: 'input' | 'output' = 'output') => {
  const generated: Record<string, unknown> = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io,
    // Refinements (no control characters, amount > 0) are not JSON Schema: the server still checks them.
    unrepresentable: 'any',
  })
  // The document's dialect is OpenAPI 3.1's own (JSON Schema 2020-12): no $schema per component.
  delete generated.$schema
  return generated
}

const content = (ref: string) => ({ 'application/json': { schema: { $ref: `#/components/schemas/${ref}` } } })
const error = (description: string) => ({ description, content: content('Error') })
const auth = [{ apiKey: [] }]

/** OpenAPI 3.1 (whose schemas are JSON Schema 2020-12, as zod generates them). */
export function openApiDocument(version: string) {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Aether Decision API',
      version,
      description:
        'Send transactions, get the decision the pipeline stored. Authenticate with `Authorization: Bearer <key>`.',
    },
    components: {
      securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } },
      schemas: {
        Transaction: json(Transaction, 'input'),
        BatchRequest: json(BatchRequest, 'input'),
        Decision: json(DecisionResponse),
        BatchResponse: json(BatchResponse),
        Lookup: json(LookupResponse),
        Error: json(ErrorResponse),
      },
    },
    paths: {
      '/v1/transactions': {
        post: {
          summary: 'Score one transaction and return its decision (scope submit)',
          security: auth,
          requestBody: { required: true, content: content('Transaction') },
          responses: {
            '200': {
              description: 'The decision (final, or provisional past the budget)',
              content: content('Decision'),
            },
            '400': error('Invalid: the errors name the fields'),
            '401': error('No valid API key'),
            '403': error('The key lacks the submit scope'),
            '409': error('This txn_id was sent before with other content'),
            '429': error('Rate limit of the key reached: see Retry-After'),
            '503': error('Backlog too long or a service unavailable: see Retry-After'),
          },
        },
      },
      '/v1/transactions/batch': {
        post: {
          summary: `Send up to ${MAX_BATCH} transactions without waiting (scope submit)`,
          security: auth,
          requestBody: { required: true, content: content('BatchRequest') },
          responses: {
            '202': { description: 'A status per item', content: content('BatchResponse') },
            '400': error('Not a batch'),
            '401': error('No valid API key'),
            '403': error('The key lacks the submit scope'),
            '429': error('Rate limit of the key reached'),
            '503': error('Backlog too long'),
          },
        },
      },
      '/v1/transactions/{txn_id}': {
        get: {
          summary: 'Status and decision of a transaction (scope read)',
          security: auth,
          parameters: [
            { name: 'txn_id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } },
          ],
          responses: {
            '200': { description: 'Stored or pending', content: content('Lookup') },
            '401': error('No valid API key'),
            '403': error('The key lacks the read scope'),
            '404': error('Unknown transaction'),
          },
        },
      },
      '/v1/decisions': {
        get: {
          summary: 'Server-Sent Events of review and block decisions (scope read); resume with Last-Event-ID',
          security: auth,
          parameters: [
            { name: 'Last-Event-ID', in: 'header', required: false, schema: { type: 'string' } },
            { name: 'after', in: 'query', required: false, schema: { type: 'string' } },
          ],
          responses: {
            '200': {
              description:
                'event: decision, data: {id, txn_id, decision, score, reasons, case_id, created_at}',
              content: { 'text/event-stream': { schema: { type: 'string' } } },
            },
            '401': error('No valid API key'),
            '403': error('The key lacks the read scope'),
          },
        },
      },
      '/healthz': { get: { summary: 'The process is up', responses: { '200': { description: 'up' } } } },
      '/readyz': {
        get: {
          summary: 'The store and Redis are reachable and a worker owns every partition',
          responses: { '200': { description: 'ready' }, '503': { description: 'not ready' } },
        },
      },
    },
  }
}

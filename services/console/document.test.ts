import { expect, test } from 'bun:test'
import { segmentDocumentSchema } from '../xray'
import { isSegmentDocument } from './document'

// The console checks documents with a compiled form of the schema; it must say what the schema itself says.
const stack = [{ path: 'routes.ts', line: 12, label: 'send' }]
const full = {
  trace_id: '1-6b0ee110-b14535a98cc6dfc9807dfd86',
  id: '8c8be06e7a7c4e79',
  parent_id: '8c8be06e7a7c4e70',
  name: 'V1-Usermgmt-Microservice',
  start_time: 1764600000.123,
  end_time: 1764600000.2,
  origin: 'AWS::EKS::Container',
  user: 'alice',
  resource_arn: 'arn:aws:eks:us-east-1:111122223333:cluster/eksdemo1',
  service: { version: 'V1' },
  aws: { xray: { sdk: 'app' } },
  annotations: { appversion: 'V1', rows: 10, cached: false },
  metadata: { default: { anything: [1, 'two'] } },
  http: {
    request: {
      method: 'GET',
      url: 'http://x/usermgmt/users',
      client_ip: '10.0.0.1',
      user_agent: 'wrk',
      x_forwarded_for: true,
    },
    response: { status: 200, content_length: 71 },
  },
  fault: false,
  error: true,
  throttle: false,
  cause: {
    working_directory: '/app',
    paths: ['routes.ts'],
    exceptions: [{ id: '8c8be06e7a7c4e71', message: 'Not found', type: 'AppError', remote: false, stack }],
  },
  subsegments: [
    {
      id: '8c8be06e7a7c4e72',
      name: 'usermgmt@db',
      namespace: 'remote',
      start_time: 1764600000.124,
      end_time: 1764600000.13,
      sql: { url: 'mysql://db:3306/usermgmt', database_type: 'MySQL', sanitized_query: 'select ?' },
      precursor_ids: ['8c8be06e7a7c4e73'],
      subsegments: [{ id: '8c8be06e7a7c4e74', name: 'inner', start_time: 1, in_progress: true, cause: 'x' }],
    },
  ],
}

const replacements: unknown[] = [
  null,
  '',
  'x',
  'z'.repeat(251),
  // 200 characters of 2 UTF-16 units each: 400 by the schema's count.
  '😀'.repeat(200),
  '8c8be06e7a7c4e7',
  0,
  -1,
  1.5,
  2 ** 60,
  true,
  [],
  ['8c8be06e7a7c4e75'],
  {},
  { id: '8c8be06e7a7c4e76', name: 'n', start_time: 1 },
]

/** The full document with one value replaced or one key removed, for every place in it. */
function* mutations(value: unknown, rebuild: (changed: unknown) => unknown): Generator<unknown> {
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) {
      const at = (changed: unknown) => rebuild(value.map((old, i) => (i === index ? changed : old)))
      yield* mutations(item, at)
      for (const replacement of replacements) yield at(replacement)
    }
  } else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      const at = (changed: unknown) => rebuild({ ...value, [key]: changed })
      yield* mutations(item, at)
      for (const replacement of replacements) yield at(replacement)
      const { [key]: _removed, ...without } = value as Record<string, unknown>
      yield rebuild(without)
    }
  }
}

test('the console accepts exactly the documents the segment document schema accepts', () => {
  const cases = [full, ...mutations(full, (changed) => changed)]
  const verdicts = cases.map((document) => ({
    document,
    schema: segmentDocumentSchema.safeParse(document).success,
    console: isSegmentDocument(document),
  }))
  expect(verdicts.filter((v) => v.schema !== v.console)).toEqual([])
  expect(verdicts[0]?.console).toBe(true)
  // The corpus is big and goes both ways, so agreement says something.
  expect(cases.length).toBeGreaterThan(1000)
  expect(verdicts.filter((v) => v.console).length).toBeGreaterThan(300)
  expect(verdicts.filter((v) => !v.console).length).toBeGreaterThan(700)
})

test('a document nested deeper than the stack allows is refused, not thrown', () => {
  let deep: Record<string, unknown> = { id: '8c8be06e7a7c4e77', name: 'leaf', start_time: 1 }
  for (let i = 0; i < 100_000; i++) deep = { id: '8c8be06e7a7c4e77', name: 'n', start_time: 1, subsegments: [deep] }
  expect(isSegmentDocument({ ...deep, trace_id: full.trace_id })).toBe(false)
})

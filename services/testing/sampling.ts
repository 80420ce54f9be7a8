import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { traceEverything } from '../xray'

/** The part of the tracing layer's interface a sampling test needs (declared here: testing imports no roles). */
export interface SamplingTracer {
  around(request: Request, next: (request: Request) => Promise<Response>): Promise<Response>
  currentTraceHeader(): string | undefined
}

/** Whether the tracer decides to sample a request to this path, as seen from inside the request. */
export async function isSampled(tracer: SamplingTracer, path: string): Promise<boolean> {
  let decision = false
  await tracer.around(new Request(`http://svc${path}`), async () => {
    decision = tracer.currentTraceHeader()?.endsWith('Sampled=1') ?? false
    return new Response('ok')
  })
  return decision
}

/** A local sampling rules file (AWS_XRAY_SAMPLING_RULES) that traces every request, in a fresh temporary folder. */
export function sampleEverythingRulesFile(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'rules-')), 'sample-everything.json')
  writeFileSync(file, JSON.stringify(traceEverything))
  return file
}

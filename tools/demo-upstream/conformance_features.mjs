// The features @modelcontextprotocol/conformance's `server` scenarios call, for demo-upstream's
// --conformance mode (test/node/conformance.mjs puts the gateway in front of it and runs the
// scenarios through the gateway). Written from the scenario descriptions the suite prints
// (`conformance list --server`, and each scenario's "Server Implementation Requirements"): the
// tools test_*, the resources test://static-text, test://static-binary, test://watched-resource
// and the template test://template/{id}/data, the prompts test_*, completion, logging, resource
// subscriptions, and server-to-client requests (sampling, elicitation) made inside a tool call,
// so that they travel on that call's SSE stream, through the gateway.

const { completable } = await import('@modelcontextprotocol/sdk/server/completable.js');
const { ResourceTemplate } = await import('@modelcontextprotocol/sdk/server/mcp.js');
const {
  CreateMessageResultSchema,
  ElicitResultSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema
} = await import('@modelcontextprotocol/sdk/types.js');

// A 1x1 PNG (one green pixel).
const PNG_BASE64 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC';

// A WAV file with a PCM header and one silent 16-bit mono sample at 8 kHz.
function silentWavBase64() {
  const data = Buffer.alloc(2);
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVE', 8);
  header.write('fmt ', 12);
  header.writeUInt32LE(16, 16); // fmt chunk size
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // channels
  header.writeUInt32LE(8000, 24); // sample rate
  header.writeUInt32LE(16000, 28); // byte rate
  header.writeUInt16LE(2, 32); // block align
  header.writeUInt16LE(16, 34); // bits per sample
  header.write('data', 36);
  header.writeUInt32LE(data.length, 40);
  return Buffer.concat([header, data]).toString('base64');
}
const WAV_BASE64 = silentWavBase64();

// The inputSchema scenario json-schema-2020-12 looks for, keyword for keyword: $schema, $defs
// (with an $anchor), additionalProperties (SEP-1613), allOf/anyOf and if/then/else (SEP-2106).
const JSON_SCHEMA_2020_12_TOOL = 'json_schema_2020_12_tool';
const JSON_SCHEMA_2020_12 = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  $defs: {
    address: {
      $anchor: 'addressDef',
      type: 'object',
      properties: { street: { type: 'string' }, city: { type: 'string' } }
    }
  },
  properties: {
    name: { type: 'string' },
    address: { $ref: '#/$defs/address' },
    contactMethod: { type: 'string', enum: ['phone', 'email'] },
    phone: { type: 'string' },
    email: { type: 'string' }
  },
  allOf: [{ anyOf: [{ required: ['phone'] }, { required: ['email'] }] }],
  if: { properties: { contactMethod: { const: 'phone' } }, required: ['contactMethod'] },
  then: { required: ['phone'] },
  else: { required: ['email'] },
  additionalProperties: false
};

// The SSE retry interval (ms) this mode announces in priming events (SEP-1699).
export const CONFORMANCE_RETRY_MS = 1000;

// What the features need declared: McpServer adds tools/resources/prompts on its own, but not
// resource subscriptions.
export const CONFORMANCE_CAPABILITIES = {
  logging: {},
  tools: { listChanged: true },
  resources: { subscribe: true, listChanged: true },
  prompts: { listChanged: true }
};

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));
const text = s => ({ content: [{ type: 'text', text: s }] });

// Asks the client for input on the tool call's own stream and reports what it answered.
async function elicit(extra, params, label) {
  const result = await extra.sendRequest({ method: 'elicitation/create', params }, ElicitResultSchema);
  return text(`${label}: action=${result.action}, content=${JSON.stringify(result.content ?? {})}`);
}

function registerTools(server, z) {
  server.registerTool('test_simple_text', { description: 'Returns one text item.' }, async () =>
    text('This is a simple text response for testing.')
  );
  server.registerTool('test_image_content', { description: 'Returns one PNG image.' }, async () => ({
    content: [{ type: 'image', data: PNG_BASE64, mimeType: 'image/png' }]
  }));
  server.registerTool('test_audio_content', { description: 'Returns one WAV clip.' }, async () => ({
    content: [{ type: 'audio', data: WAV_BASE64, mimeType: 'audio/wav' }]
  }));
  server.registerTool('test_embedded_resource', { description: 'Returns an embedded text resource.' }, async () => ({
    content: [
      {
        type: 'resource',
        resource: { uri: 'test://embedded-resource', mimeType: 'text/plain', text: 'This is an embedded resource content.' }
      }
    ]
  }));
  server.registerTool(
    'test_multiple_content_types',
    { description: 'Returns text, an image and an embedded resource.' },
    async () => ({
      content: [
        { type: 'text', text: 'Multiple content types test:' },
        { type: 'image', data: PNG_BASE64, mimeType: 'image/png' },
        {
          type: 'resource',
          resource: {
            uri: 'test://mixed-content-resource',
            mimeType: 'application/json',
            text: JSON.stringify({ test: 'data', value: 123 })
          }
        }
      ]
    })
  );
  server.registerTool(
    'test_tool_with_logging',
    { description: 'Sends three info log messages, 50 ms apart, while it runs.', inputSchema: {} },
    async (_args, extra) => {
      for (const [i, data] of ['Tool execution started', 'Tool processing data', 'Tool execution completed'].entries()) {
        if (i > 0) await sleep(50);
        await extra.sendNotification({ method: 'notifications/message', params: { level: 'info', data } });
      }
      return text('Tool with logging executed successfully');
    }
  );
  server.registerTool(
    'test_tool_with_progress',
    { description: 'Reports progress 0, 50 and 100 of 100 for the request\'s progress token.', inputSchema: {} },
    async (_args, extra) => {
      const progressToken = extra._meta?.progressToken;
      for (const [i, progress] of [0, 50, 100].entries()) {
        if (i > 0) await sleep(50);
        if (progressToken !== undefined) {
          await extra.sendNotification({
            method: 'notifications/progress',
            params: { progressToken, progress, total: 100, message: `Completed step ${progress} of 100` }
          });
        }
      }
      return text(String(progressToken ?? 'no progress token'));
    }
  );
  // SEP-1699 polling: closes the call's SSE stream at once (the client saw the priming event's
  // id) and answers 100 ms later; the answer waits in the event store for a GET with
  // Last-Event-ID (scenario server-sse-polling).
  server.registerTool(
    'test_reconnection',
    { description: 'Closes its SSE stream mid-call; the result comes on the resumed stream.', inputSchema: {} },
    async (_args, extra) => {
      extra.closeSSEStream?.();
      await sleep(100);
      return text('Reconnection test completed: the result arrived on the resumed stream.');
    }
  );
  server.registerTool('test_error_handling', { description: 'Always fails (isError: true).' }, async () => {
    throw new Error('This tool intentionally returns an error for testing');
  });
  server.registerTool(
    'test_sampling',
    { description: 'Asks the client\'s LLM (sampling/createMessage).', inputSchema: { prompt: z.string() } },
    async ({ prompt }, extra) => {
      const result = await extra.sendRequest(
        {
          method: 'sampling/createMessage',
          params: { messages: [{ role: 'user', content: { type: 'text', text: prompt } }], maxTokens: 100 }
        },
        CreateMessageResultSchema
      );
      return text(`LLM response: ${result.content?.type === 'text' ? result.content.text : JSON.stringify(result.content)}`);
    }
  );
  server.registerTool(
    'test_elicitation',
    { description: 'Asks the user for a username and an email (elicitation/create).', inputSchema: { message: z.string() } },
    async ({ message }, extra) =>
      elicit(
        extra,
        {
          message,
          requestedSchema: {
            type: 'object',
            properties: {
              username: { type: 'string', description: "User's response" },
              email: { type: 'string', description: "User's email address" }
            },
            required: ['username', 'email']
          }
        },
        'User response'
      )
  );
  server.registerTool(
    'test_elicitation_sep1034_defaults',
    { description: 'Elicitation with a default for every primitive type (SEP-1034).', inputSchema: {} },
    async (_args, extra) =>
      elicit(
        extra,
        {
          message: 'Please review and update the form fields with defaults',
          requestedSchema: {
            type: 'object',
            properties: {
              name: { type: 'string', description: 'User name', default: 'John Doe' },
              age: { type: 'integer', description: 'User age', default: 30 },
              score: { type: 'number', description: 'User score', default: 95.5 },
              status: { type: 'string', description: 'User status', enum: ['active', 'inactive', 'pending'], default: 'active' },
              verified: { type: 'boolean', description: 'Verification status', default: true }
            },
            required: []
          }
        },
        'Elicitation completed'
      )
  );
  server.registerTool(
    'test_elicitation_sep1330_enums',
    { description: 'Elicitation with the five enum shapes of SEP-1330.', inputSchema: {} },
    async (_args, extra) =>
      elicit(
        extra,
        {
          message: 'Please select options from the enum fields',
          requestedSchema: {
            type: 'object',
            properties: {
              untitledSingle: { type: 'string', description: 'Select one option', enum: ['option1', 'option2', 'option3'] },
              titledSingle: {
                type: 'string',
                description: 'Select one option with titles',
                oneOf: [
                  { const: 'value1', title: 'First Option' },
                  { const: 'value2', title: 'Second Option' },
                  { const: 'value3', title: 'Third Option' }
                ]
              },
              legacyEnum: {
                type: 'string',
                description: 'Select one option (legacy)',
                enum: ['opt1', 'opt2', 'opt3'],
                enumNames: ['Option One', 'Option Two', 'Option Three']
              },
              untitledMulti: {
                type: 'array',
                description: 'Select multiple options',
                minItems: 1,
                maxItems: 3,
                items: { type: 'string', enum: ['option1', 'option2', 'option3'] }
              },
              titledMulti: {
                type: 'array',
                description: 'Select multiple options with titles',
                minItems: 1,
                maxItems: 3,
                items: {
                  anyOf: [
                    { const: 'value1', title: 'First Choice' },
                    { const: 'value2', title: 'Second Choice' },
                    { const: 'value3', title: 'Third Choice' }
                  ]
                }
              }
            },
            required: []
          }
        },
        'Elicitation completed'
      )
  );
  // Registered with an equivalent zod shape (calls are validated by it); tools/list publishes
  // JSON_SCHEMA_2020_12 itself, see below.
  server.registerTool(
    JSON_SCHEMA_2020_12_TOOL,
    {
      description: 'A tool whose inputSchema uses JSON Schema 2020-12 keywords (SEP-1613, SEP-2106).',
      inputSchema: {
        name: z.string().optional(),
        address: z.object({ street: z.string().optional(), city: z.string().optional() }).optional(),
        contactMethod: z.enum(['phone', 'email']).optional(),
        phone: z.string().optional(),
        email: z.string().optional()
      }
    },
    async args => text(`JSON Schema 2020-12 tool called with: ${JSON.stringify(args)}`)
  );
  // McpServer converts zod shapes to JSON Schema and would drop $schema, $defs, $anchor and the
  // rest: publish the raw schema for that one tool, everything else as McpServer lists it.
  const requestHandlers = server.server._requestHandlers;
  const listTools = requestHandlers.get('tools/list');
  requestHandlers.set('tools/list', async (request, extra) => {
    const result = await listTools(request, extra);
    for (const tool of result.tools) {
      if (tool.name === JSON_SCHEMA_2020_12_TOOL) tool.inputSchema = JSON_SCHEMA_2020_12;
    }
    return result;
  });
}

function registerResources(server) {
  const subscriptions = new Set();
  const fixed = (name, uri, mimeType, description, content) =>
    server.registerResource(name, uri, { title: name, description, mimeType }, async () => ({
      contents: [{ uri, mimeType, ...content }]
    }));
  fixed('static-text', 'test://static-text', 'text/plain', 'A static text resource.', {
    text: 'This is the content of the static text resource.'
  });
  fixed('static-binary', 'test://static-binary', 'image/png', 'A static binary resource (a PNG).', { blob: PNG_BASE64 });
  fixed('watched-resource', 'test://watched-resource', 'text/plain', 'A resource clients may subscribe to.', {
    text: 'Watched resource content'
  });
  server.registerResource(
    'template',
    new ResourceTemplate('test://template/{id}/data', { list: undefined }),
    { title: 'Resource template', description: 'Data for one id.', mimeType: 'application/json' },
    async (uri, { id }) => ({
      contents: [
        {
          uri: uri.href,
          mimeType: 'application/json',
          text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` })
        }
      ]
    })
  );
  server.server.setRequestHandler(SubscribeRequestSchema, async request => {
    subscriptions.add(request.params.uri);
    return {};
  });
  server.server.setRequestHandler(UnsubscribeRequestSchema, async request => {
    subscriptions.delete(request.params.uri);
    return {};
  });
}

function registerPrompts(server, z) {
  server.registerPrompt('test_simple_prompt', { title: 'Simple prompt', description: 'A prompt without arguments.' }, async () => ({
    messages: [{ role: 'user', content: { type: 'text', text: 'This is a simple prompt for testing.' } }]
  }));
  // arg1 completes (completion/complete), which also makes McpServer declare `completions`.
  const suggestions = ['paris', 'park', 'party'];
  server.registerPrompt(
    'test_prompt_with_arguments',
    {
      title: 'Prompt with arguments',
      description: 'A prompt with two required arguments.',
      argsSchema: {
        arg1: completable(z.string().describe('First test argument'), value => suggestions.filter(s => s.startsWith(value))),
        arg2: z.string().describe('Second test argument')
      }
    },
    async ({ arg1, arg2 }) => ({
      messages: [{ role: 'user', content: { type: 'text', text: `Prompt with arguments: arg1='${arg1}', arg2='${arg2}'` } }]
    })
  );
  server.registerPrompt(
    'test_prompt_with_embedded_resource',
    {
      title: 'Prompt with an embedded resource',
      description: 'Embeds the resource it is given.',
      argsSchema: { resourceUri: z.string().describe('URI of the resource to embed') }
    },
    async ({ resourceUri }) => ({
      messages: [
        {
          role: 'user',
          content: { type: 'resource', resource: { uri: resourceUri, mimeType: 'text/plain', text: 'Embedded resource content for testing.' } }
        },
        { role: 'user', content: { type: 'text', text: 'Please process the embedded resource above.' } }
      ]
    })
  );
  server.registerPrompt('test_prompt_with_image', { title: 'Prompt with an image', description: 'Includes a PNG.' }, async () => ({
    messages: [
      { role: 'user', content: { type: 'image', data: PNG_BASE64, mimeType: 'image/png' } },
      { role: 'user', content: { type: 'text', text: 'Please analyze the image above.' } }
    ]
  }));
}

// Adds every feature to `server` (an McpServer made with CONFORMANCE_CAPABILITIES).
export function registerConformanceFeatures(server, z) {
  registerTools(server, z);
  registerResources(server);
  registerPrompts(server, z);
}

// First: tracing starts before the modules it instruments load.
import './tracing';

import { configFromArgv, runBusService } from '@portfolio/bootstrap';
import { ModelRegistryServiceModule } from '@portfolio/model-registry-service';

async function main(): Promise<void> {
  const config = configFromArgv();
  if (!config.database.url) {
    process.stderr.write(
      'Invalid configuration: database.url is required for the model-registry (set PORTFOLIO_DATABASE_URL or database.url)\n',
    );
    process.exit(2);
  }
  const url = config.database.url;
  await runBusService('model-registry', config, () =>
    ModelRegistryServiceModule.forRoot({ database: { kind: 'postgres', url } }),
  );
}

void main();

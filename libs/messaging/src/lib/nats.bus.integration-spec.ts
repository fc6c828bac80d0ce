import { testNatsUrl, uniqueSubjectPrefix } from '@portfolio/testing';

import { busContract } from './bus-contract.testing';
import { NatsBus } from './nats.bus';

describe(NatsBus.name, () => {
  busContract(
    () =>
      NatsBus.connect({
        url: testNatsUrl(),
        name: 'messaging-integration-test',
      }),
    () => uniqueSubjectPrefix('bus'),
  );

  it('reports the server max payload', async () => {
    const bus = await NatsBus.connect({
      url: testNatsUrl(),
      name: 'messaging-integration-test',
    });
    try {
      expect(bus.maxPayloadBytes()).toBeGreaterThanOrEqual(1024 * 1024);
      expect(() =>
        bus.publish(
          `${uniqueSubjectPrefix('big')}.x`,
          new Uint8Array(bus.maxPayloadBytes() + 1),
        ),
      ).toThrow(/max_payload/);
    } finally {
      await bus.close();
    }
  });
});

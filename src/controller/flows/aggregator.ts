// The controller's flow aggregator export as its config describes it: the IPFIX sender to the
// collector and the exporter with the aggregator's timeouts, started and stopped together.
import type { FlowAggregatorConfig } from '../../api/config.js';
import { readIpfixTls } from '../../api/flow-ipfix.js';
import { IpfixSender, parseCollector } from '../../lib/ipfix/transport.js';
import { createLogger } from '../../lib/log.js';
import { AGGREGATOR_TEMPLATES, AggregatorExporter } from './aggregator-export.js';

const log = createLogger('controller.flow-aggregator');

export interface FlowAggregator {
  exporter: AggregatorExporter;
  sender: IpfixSender;
  take: AggregatorExporter['take'];
  stop(): Promise<void>;
}

export function flowAggregatorExporter(cfg: FlowAggregatorConfig): FlowAggregator {
  const c = cfg.flowCollector;
  const tls = c.tls && readIpfixTls(c.tls, 'flowAggregator.flowCollector.tls');
  const sender = new IpfixSender({
    collector: parseCollector(c.address), templates: AGGREGATOR_TEMPLATES,
    ...(c.observationDomainID !== undefined ? { domainId: c.observationDomainID } : {}), ...(tls ? { tls } : {}),
  });
  const exporter = new AggregatorExporter({ sender, activeTimeoutS: cfg.activeFlowRecordTimeoutSeconds, inactiveTimeoutS: cfg.inactiveFlowRecordTimeoutSeconds });
  exporter.start();
  log.info({ collector: c.address, activeS: cfg.activeFlowRecordTimeoutSeconds, inactiveS: cfg.inactiveFlowRecordTimeoutSeconds }, 'flow aggregator exporting');
  let stopped = false;
  return {
    exporter, sender, take: exporter.take,
    async stop() {
      if (stopped) return;
      stopped = true;
      await exporter.stop();
      await sender.close();
    },
  };
}

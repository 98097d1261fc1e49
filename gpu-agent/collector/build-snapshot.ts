import type {
  GpuSourceKind,
  GpuState,
  MigInstanceState,
  MigProfileState,
  NodeSnapshot,
} from '../model.ts';
import type {
  ComputeInstanceListing,
  GiPlacementListing,
  GiProfileListing,
  GpuInstanceListing,
  ListedGpu,
  ListedMigDevice,
} from './parse-mig-listings.ts';
import type { ParsedGpu, ParsedMigDevice, ParsedSmiLog } from './parse-smi-xml.ts';

/**
 * The parsed output of each command a collection ran. A listing is null when its command was not
 * run or failed; the snapshot then lacks what only that listing knows (profile names, UUIDs, …).
 */
export interface CollectedOutputs {
  log: ParsedSmiLog;
  profiles?: GiProfileListing[] | null;
  placements?: GiPlacementListing[] | null;
  gpuInstances?: GpuInstanceListing[] | null;
  computeInstances?: ComputeInstanceListing[] | null;
  devices?: ListedGpu[] | null;
  confidentialComputeMode?: string | null;
}

export interface SnapshotMeta {
  hostname: string;
  source: GpuSourceKind;
  collectedAt: Date;
}

function profilesFor(gpu: ParsedGpu, outputs: CollectedOutputs): MigProfileState[] {
  return (outputs.profiles ?? [])
    .filter((profile) => profile.gpuIndex === gpu.index)
    .map((profile) => ({
      name: profile.name,
      id: profile.id,
      instancesFree: profile.instancesFree,
      instancesTotal: profile.instancesTotal,
      memoryMiB: profile.memoryMiB,
      multiprocessors: profile.multiprocessors,
      placements:
        outputs.placements?.find((p) => p.gpuIndex === gpu.index && p.profileId === profile.id)
          ?.placements ?? [],
    }));
}

/** The `-L` entry of a MIG device: by GI/CI where the UUID encodes them, else by device number. */
function listedDevice(
  listed: ListedMigDevice[],
  gpuInstanceId: number,
  computeInstanceId: number | null,
  device: ParsedMigDevice | undefined,
): ListedMigDevice | undefined {
  const byIds = listed.find(
    (d) => d.gpuInstanceId === gpuInstanceId && d.computeInstanceId === computeInstanceId,
  );
  if (byIds) return byIds;
  if (device?.index === null || device?.index === undefined) return undefined;
  return listed.find((d) => d.gpuInstanceId === null && d.deviceIndex === device.index);
}

/** A CI-split device is listed as "1c.3g.40gb"; its GI profile is "3g.40gb". */
function giProfileName(deviceName: string): string {
  return deviceName.replace(/^\d+c\./, '');
}

function instancesFor(
  gpu: ParsedGpu,
  outputs: CollectedOutputs,
  profiles: MigProfileState[],
): MigInstanceState[] {
  if (!gpu.migMode.current) return [];
  const listed = outputs.devices?.find((d) => d.uuid === gpu.uuid)?.migDevices ?? [];
  const instance = (
    gpuInstanceId: number,
    computeInstanceId: number | null,
    gi: GpuInstanceListing | undefined,
  ): MigInstanceState => {
    const device = gpu.migDevices.find(
      (d) => d.gpuInstanceId === gpuInstanceId && d.computeInstanceId === computeInstanceId,
    );
    const entry = listedDevice(listed, gpuInstanceId, computeInstanceId, device);
    const name = gi?.profile ?? (entry ? giProfileName(entry.name) : null);
    const profile = gi
      ? profiles.find((p) => p.id === gi.profileId)
      : profiles.find((p) => p.name === name);
    return {
      gpuInstanceId,
      computeInstanceId,
      profile: name ?? 'unknown',
      profileId: gi?.profileId ?? profile?.id ?? null,
      // The XML gives the exact size; -lgip's GiB is rounded to 2 decimals.
      memoryMiB: device?.memoryTotalMiB ?? profile?.memoryMiB ?? 0,
      memoryUsedMiB: device?.memoryUsedMiB ?? null,
      uuid: entry?.uuid ?? null,
      placement: gi?.placement ?? null,
      utilizationPercent: null,
    };
  };

  const gis = outputs.gpuInstances?.filter((gi) => gi.gpuIndex === gpu.index);
  const result = gis
    ? gis.flatMap((gi) => {
        // Without -lci, the XML still says which compute instances exist.
        const ciIds = outputs.computeInstances
          ? outputs.computeInstances
              .filter((ci) => ci.gpuIndex === gpu.index && ci.gpuInstanceId === gi.gpuInstanceId)
              .map((ci) => ci.computeInstanceId)
          : gpu.migDevices
              .filter((d) => d.gpuInstanceId === gi.gpuInstanceId)
              .map((d) => d.computeInstanceId);
        const ids = ciIds.length > 0 ? ciIds : [null];
        return ids.map((ci) => instance(gi.gpuInstanceId, ci, gi));
      })
    : gpu.migDevices.map((d) => instance(d.gpuInstanceId, d.computeInstanceId, undefined));
  return result.sort(
    (a, b) =>
      a.gpuInstanceId - b.gpuInstanceId ||
      (a.computeInstanceId ?? -1) - (b.computeInstanceId ?? -1),
  );
}

function gpuState(gpu: ParsedGpu, outputs: CollectedOutputs): GpuState {
  const migProfiles = profilesFor(gpu, outputs);
  return {
    uuid: gpu.uuid,
    index: gpu.index,
    name: gpu.name,
    serial: gpu.serial,
    vbiosVersion: gpu.vbiosVersion,
    pciBusId: gpu.pciBusId,
    architecture: gpu.architecture,
    // GpuState has no null here; a GPU that cannot report its memory ("GPU is lost") shows 0.
    memoryTotalMiB: gpu.memoryTotalMiB ?? 0,
    memoryUsedMiB: gpu.memoryUsedMiB,
    utilizationPercent: gpu.utilizationPercent,
    memoryUtilizationPercent: gpu.memoryUtilizationPercent,
    temperatureC: gpu.temperatureC,
    powerDrawW: gpu.powerDrawW,
    powerLimitW: gpu.powerLimitW,
    eccEnabled: gpu.eccEnabled,
    eccErrors: gpu.eccErrors,
    retiredPages: gpu.retiredPages,
    remappedRows: gpu.remappedRows,
    clocks: gpu.clocks,
    migMode: gpu.migMode,
    migProfiles,
    migInstances: instancesFor(gpu, outputs, migProfiles),
    processes: gpu.processes,
    confidentialComputeMode: outputs.confidentialComputeMode ?? null,
  };
}

/**
 * Joins the outputs of one collection into a NodeSnapshot. MIG instances come from `-lgi` (profile
 * name, id, placement) × `-lci` (compute instances), sized from the XML `<mig_device>` (or the
 * `-lgip` profile) and named by `-L` (MIG UUID, matched on the device number). GPUs are matched
 * to listings by nvidia-smi index and to `-L` by UUID.
 */
export function buildSnapshot(outputs: CollectedOutputs, meta: SnapshotMeta): NodeSnapshot {
  return {
    hostname: meta.hostname,
    driverVersion: outputs.log.driverVersion,
    cudaVersion: outputs.log.cudaVersion,
    collectedAt: meta.collectedAt.toISOString(),
    source: meta.source,
    gpus: outputs.log.gpus.map((gpu) => gpuState(gpu, outputs)),
  };
}

/**
 * How simulated telemetry moves from one reading to the next. Plain functions over small state
 * objects so one step for a whole node stays in the microseconds.
 *
 * The model: utilization is a mean-reverting random walk towards what the running processes ask
 * for; board power follows utilization between the idle draw and the power limit within a couple
 * of seconds; the core temperature follows power with a time constant of tens of seconds, so it
 * lags behind load the way a heatsink does.
 */
import type { GpuModelSpec } from '../mig/profiles.ts';
import type { Random } from './random.ts';

/** Seconds for utilization to close ~63% of the gap to its target. */
const UTILIZATION_TIME_CONSTANT_S = 4;
/** Seconds for power to follow utilization. */
const POWER_TIME_CONSTANT_S = 2;
/** Seconds for the core temperature to follow power. */
const THERMAL_TIME_CONSTANT_S = 45;

export interface ThermalState {
  powerW: number;
  temperatureC: number;
}

function clamp(value: number, min: number, max: number): number {
  return value < min ? min : value > max ? max : value;
}

/** The fraction of the gap an exponential follower closes in `dtS` seconds. */
function approach(dtS: number, timeConstantS: number): number {
  return 1 - Math.exp(-dtS / timeConstantS);
}

/**
 * The next utilization (0–100) of one compute target (a whole GPU or a MIG instance). `demand` is
 * the utilization the processes on it would drive (0 when none run).
 */
export function nextUtilization(current: number, demand: number, dtS: number, rng: Random): number {
  const busy = demand > 0;
  // Input pipelines stall now and then: a busy target briefly drops well below its demand.
  const target = busy && rng.chance(0.04) ? demand * 0.4 : demand;
  const decayed = current + (target - current) * approach(dtS, UTILIZATION_TIME_CONSTANT_S);
  // An idle GPU reads a flat 0 %, so only busy targets jitter.
  if (!busy) return decayed < 0.5 ? 0 : decayed;
  return clamp(decayed + 3 * Math.sqrt(Math.min(dtS, 10)) * rng.gaussian(), 0, 100);
}

/** Power (W) a board settles at for a load fraction 0–1. */
export function steadyPowerW(spec: GpuModelSpec, load: number): number {
  const span = spec.powerLimitW * 0.97 - spec.idlePowerW;
  return spec.idlePowerW + span * Math.pow(clamp(load, 0, 1), 0.85);
}

/**
 * Core temperature (°C) a board settles at for a power draw. Concave, because fans and pumps
 * speed up with load: the H100 capture reads 66 °C at 355 W (half the limit) against ~30 °C idle.
 */
export function steadyTemperatureC(spec: GpuModelSpec, powerW: number): number {
  const fraction = (powerW - spec.idlePowerW) / (spec.powerLimitW - spec.idlePowerW);
  return (
    spec.idleTemperatureC +
    (spec.fullLoadTemperatureC - spec.idleTemperatureC) * Math.pow(clamp(fraction, 0, 1), 0.6)
  );
}

/** A board at rest at the given load: what a fresh simulator starts from. */
export function settledThermal(spec: GpuModelSpec, load: number): ThermalState {
  const powerW = steadyPowerW(spec, load);
  return { powerW, temperatureC: steadyTemperatureC(spec, powerW) };
}

/** Advances power and temperature by `dtS` seconds at a load fraction 0–1 (mutates `state`). */
export function stepThermal(
  state: ThermalState,
  spec: GpuModelSpec,
  load: number,
  dtS: number,
  rng: Random,
): void {
  const powerTarget = steadyPowerW(spec, load);
  const powerNoise = (load > 0.01 ? 6 : 0.8) * rng.gaussian();
  state.powerW = clamp(
    state.powerW + (powerTarget - state.powerW) * approach(dtS, POWER_TIME_CONSTANT_S) + powerNoise,
    spec.idlePowerW * 0.9,
    spec.powerLimitW,
  );
  const temperatureTarget = steadyTemperatureC(spec, state.powerW);
  state.temperatureC = clamp(
    state.temperatureC +
      (temperatureTarget - state.temperatureC) * approach(dtS, THERMAL_TIME_CONSTANT_S) +
      0.15 * rng.gaussian(),
    spec.idleTemperatureC - 3,
    spec.fullLoadTemperatureC + 5,
  );
}

/** Clocks for a load: boost while busy, trimmed near the power limit, idle clocks at rest. */
export function clocksFor(
  spec: GpuModelSpec,
  load: number,
  powerW: number,
): { graphicsMHz: number; smMHz: number; memoryMHz: number; videoMHz: number } {
  const { clocks } = spec;
  let graphics = clocks.idleGraphicsMHz;
  if (load > 0.02) {
    // Power capping: within the last 5% of the limit the boost clock backs off by up to 15%.
    const headroom = clamp((spec.powerLimitW - powerW) / (spec.powerLimitW * 0.05), 0, 1);
    graphics = clocks.maxGraphicsMHz * (0.85 + 0.15 * headroom);
  }
  // Real clocks move in 15 MHz steps (the supported_graphics_clock lists).
  const graphicsMHz = Math.round(graphics / 15) * 15;
  return {
    graphicsMHz,
    smMHz: graphicsMHz,
    memoryMHz: clocks.memoryMHz,
    videoMHz: load > 0.02 ? clocks.maxVideoMHz : clocks.idleVideoMHz,
  };
}

/**
 * What the data centre itself answers, before a request reaches the simulated world: the config a
 * client asks for on connect, naming this data centre as the only one, so nothing migrates.
 */
import { Api } from 'telegram';

export const LOOPBACK_DC_ID = 2;

export function dcConfig(address: string, port: number, nowSeconds: number): Api.Config {
  return new Api.Config({
    date: nowSeconds,
    expires: nowSeconds + 3600,
    testMode: false,
    thisDc: LOOPBACK_DC_ID,
    dcOptions: [new Api.DcOption({ id: LOOPBACK_DC_ID, ipAddress: address, port, static: true })],
    dcTxtDomainName: 'loopback.invalid',
    chatSizeMax: 200,
    megagroupSizeMax: 200_000,
    forwardedCountMax: 100,
    onlineUpdatePeriodMs: 210_000,
    offlineBlurTimeoutMs: 5000,
    offlineIdleTimeoutMs: 30_000,
    onlineCloudTimeoutMs: 300_000,
    notifyCloudDelayMs: 30_000,
    notifyDefaultDelayMs: 1500,
    pushChatPeriodMs: 60_000,
    pushChatLimit: 2,
    editTimeLimit: 172_800,
    revokeTimeLimit: 2_147_483_647,
    revokePmTimeLimit: 2_147_483_647,
    ratingEDecay: 2_419_200,
    stickersRecentLimit: 200,
    channelsReadMediaPeriod: 604_800,
    callReceiveTimeoutMs: 20_000,
    callRingTimeoutMs: 90_000,
    callConnectTimeoutMs: 30_000,
    callPacketTimeoutMs: 10_000,
    meUrlPrefix: 'https://t.me/',
    captionLengthMax: 1024,
    messageLengthMax: 4096,
    webfileDcId: LOOPBACK_DC_ID,
  });
}

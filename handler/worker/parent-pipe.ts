/**
 * A worker started by the local server holds one end of a pipe whose other end only the
 * server holds (`FERRY_PARENT_PIPE_FD`). Nothing is ever written on it: when the server's
 * process ends, however it ends (SIGKILL included), the kernel closes its end, this end reads
 * end-of-file, and the worker exits instead of polling a port that a restarted server, or
 * another program, may answer next. On RunPod the variable is not set and nothing is watched.
 */
import { Socket } from "node:net";
import type { Logger } from "../../protocol/logger.ts";

export function watchParentPipe(env: NodeJS.ProcessEnv, logger: Logger, onGone: () => void): void {
  const raw = env.FERRY_PARENT_PIPE_FD;
  if (raw === undefined || raw === "") return;
  const fd = Number(raw);
  if (!Number.isInteger(fd) || fd < 3) {
    logger.warn({ FERRY_PARENT_PIPE_FD: raw }, "FERRY_PARENT_PIPE_FD is not a file descriptor number; the server's end is not watched");
    return;
  }
  let socket: Socket;
  try {
    socket = new Socket({ fd, readable: true, writable: false });
  } catch (error) {
    logger.warn({ err: (error as Error).message, fd }, "cannot watch the server's pipe");
    return;
  }
  let gone = false;
  const end = () => {
    if (gone) return;
    gone = true;
    logger.warn("the local server that started this worker is gone; the worker exits");
    onGone();
  };
  socket.on("data", () => undefined);
  socket.on("end", end);
  socket.on("close", end);
  socket.on("error", end);
  // The watch alone must not keep the worker running.
  socket.unref();
}

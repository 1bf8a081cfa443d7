/**
 * A value the child wrote as a file of its own in the local server's blob folder, as the job's
 * `value_files` asked (its name there, and its size), instead of sending its bytes in the frame.
 */
export const VALUE_FILE_NAME = /^child-[0-9a-f]{32}\.value$/;

export class ValueFile {
  constructor(
    readonly name: string,
    readonly byteLength: number,
  ) {}
}

// A run that cannot start or continue (a plan without data, a checkpoint of another recipe, ...).
export class TrainError extends Error {
  override name = "TrainError";
}

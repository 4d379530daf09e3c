// Pure pieces of the feedback conversation: the buttons under an answer, the
// "which one is it?" menu, the name modal, the tally line and the confirmations.
// custom_ids name the action and the prediction row (and, after the first step,
// the answer message to edit), so they keep working after a restart.
import type { APIActionRowComponent, APIComponentInMessageActionRow, APIModalInteractionResponseCallbackData } from 'discord.js';
import type { FeedbackOutcome } from '../services/feedbackService.ts';
import type { Prediction, TallyEntry, VoteAnswer } from '../storage/index.ts';

export type MessageRow = APIActionRowComponent<APIComponentInMessageActionRow>;

const BUTTON = 2;
const STRING_SELECT = 3;
const TEXT_INPUT = 4;
const ROW = 1;
const STYLE = { success: 3, danger: 4 };

export const FEEDBACK_PREFIX = 'fb:';
/** Marks the tally line in an answer's content, so an update replaces it. */
export const TALLY_MARK = '🗳️';

export type FeedbackAction =
  { action: 'right' | 'wrong'; predictionId: number } | { action: 'pick' | 'name'; predictionId: number; messageId: string };

export const customId = {
  right: (id: number) => `fb:right:${id}`,
  wrong: (id: number) => `fb:wrong:${id}`,
  pick: (id: number, messageId: string) => `fb:pick:${id}:${messageId}`,
  name: (id: number, messageId: string) => `fb:name:${id}:${messageId}`,
};

/** Undefined for anything that is not one of ours, or malformed. */
export function parseCustomId(id: string): FeedbackAction | undefined {
  const m = /^fb:(right|wrong|pick|name):(\d{1,15})(?::(\d{5,25}))?$/.exec(id);
  if (!m) return undefined;
  const action = m[1] as FeedbackAction['action'];
  const predictionId = Number(m[2]);
  if (action === 'right' || action === 'wrong') return m[3] ? undefined : { action, predictionId };
  return m[3] ? { action, predictionId, messageId: m[3] } : undefined;
}

/** The ✅ Right / ❌ Wrong row under an answer. */
export function feedbackButtons(predictionId: number): MessageRow[] {
  return [
    {
      type: ROW,
      components: [
        { type: BUTTON, style: STYLE.success, custom_id: customId.right(predictionId), label: 'Right', emoji: { name: '✅' } },
        { type: BUTTON, style: STYLE.danger, custom_id: customId.wrong(predictionId), label: 'Wrong', emoji: { name: '❌' } },
      ],
    },
  ];
}

export const PICK = { other: 'other', notFlower: 'not_flower', label: (l: string) => `label:${l}` };

const title = (s: string) => s.replace(/\b\p{L}/gu, (c) => c.toUpperCase());

/** "Which one is it?": the other candidates, another species (typed), or not a flower. */
export function wrongMenu(p: Prediction, messageId: string): MessageRow[] {
  const others = p.topK.filter((e) => e.label !== p.top1Label).slice(0, 23);
  return [
    {
      type: ROW,
      components: [
        {
          type: STRING_SELECT,
          custom_id: customId.pick(p.id, messageId),
          placeholder: 'What is it?',
          min_values: 1,
          max_values: 1,
          options: [
            ...others.map((e) => ({ label: title(e.name).slice(0, 100), value: PICK.label(e.label) })),
            { label: 'Another species… (type its name)', value: PICK.other, emoji: { name: '✏️' } },
            { label: 'Not a flower', value: PICK.notFlower, emoji: { name: '🚫' } },
          ],
        },
      ],
    },
  ];
}

export const NAME_FIELD = 'species';

export function nameModal(predictionId: number, messageId: string): APIModalInteractionResponseCallbackData {
  return {
    custom_id: customId.name(predictionId, messageId),
    title: 'Which flower is it?',
    components: [
      {
        type: ROW,
        components: [
          {
            type: TEXT_INPUT,
            custom_id: NAME_FIELD,
            style: 1,
            label: 'Species name',
            placeholder: 'e.g. Lenten Rose',
            min_length: 2,
            max_length: 80,
            required: true,
          },
        ],
      },
    ],
  };
}

export function describeAnswer(a: VoteAnswer, nameOf: (label: string) => string): string {
  if (a.kind === 'not_flower') return 'not a flower';
  if (a.kind === 'new') return `${a.name} (new to me)`;
  return title(nameOf(a.label));
}

const members = (n: number) => (n === 1 ? '1 member says' : `${n} members say`);

/** "🗳️ 3 members say it's right · 2 members say: Lenten Rose"; empty without votes. */
export function tallyLine(tally: TallyEntry[], p: Prediction, nameOf: (label: string) => string): string {
  if (!tally.length) return '';
  const parts = tally
    .slice(0, 4)
    .map((t) =>
      t.answer.kind === 'label' && t.answer.label === p.top1Label
        ? `✅ ${members(t.count)} it's right`
        : `❌ ${members(t.count)}: ${describeAnswer(t.answer, nameOf)}`,
    );
  const rest = tally.slice(4).reduce((n, t) => n + t.count, 0);
  if (rest) parts.push(`${rest} more with other answers`);
  return `${TALLY_MARK} ${parts.join(' · ')}`;
}

/** The answer's content with its tally line replaced (other lines, such as "I looked at the first 3 photos only", kept). */
export function withTally(content: string | null | undefined, line: string): string {
  const kept = (content ?? '').split('\n').filter((l) => l && !l.startsWith(TALLY_MARK));
  return [...kept, ...(line ? [line] : [])].join('\n');
}

/** The private confirmation a member gets after voting. */
export function confirmation(o: FeedbackOutcome, answer: VoteAnswer, nameOf: (label: string) => string): string {
  const said =
    answer.kind === 'label' && answer.label === o.prediction.top1Label ? "it's right" : `it's **${describeAnswer(answer, nameOf)}**`;
  const head =
    o.result === 'same'
      ? `You already said ${said} — your vote counts once.`
      : o.result === 'changed'
        ? `Changed your vote: ${said}. Thanks!`
        : `Thanks! Noted that ${said}.`;
  const photo: Record<FeedbackOutcome['photo'], string> = {
    kept: 'I kept this photo (without its location or other metadata) to learn from once it is reviewed.',
    already: '',
    unchanged: '',
    capped: "You've reached today's limit of photos I keep from one member, so I counted your vote but did not keep the photo.",
    unavailable: 'I no longer have this photo, so I counted your vote without keeping it.',
  };
  return [head, photo[o.photo]].filter(Boolean).join('\n');
}

export const FEEDBACK_GONE = "I can't find that answer any more (it may be from an old log), so I can't take feedback on it.";
export const FEEDBACK_UNKNOWN = "That button doesn't do anything any more.";
export const FEEDBACK_FAILED = 'Something went wrong on my side while saving your feedback. Please try again in a moment.';
export const WRONG_PROMPT = 'Thanks for telling me! What is it?';
/** A candidate from a menu built for an earlier model that the live model no longer knows. */
export const staleCandidate = (name: string) =>
  `My model has changed since this answer and no longer knows **${title(name)}**, so I can't record that. ` +
  'If that is what it is, choose "Another species… (type its name)" and I will note it as a species to learn.';
